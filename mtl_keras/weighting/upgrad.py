"""UPGrad: unconflicting projection of gradients (Jacobian descent).

Quinton and Rey, "Jacobian Descent for Multi-Objective Optimization",
arXiv:2406.16232, 2024.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from mtl_keras.weighting.gradient_common import (
    SharedGradientWeighting, as_matrix, compiled, as_present, masked_gram, weighted_sum,
)


def project_weights(k, lower, num_sweeps: int = 100, tol: float = 1e-7):
    """Solves `min_v v^T K v` s.t. `v >= lower`, row by row.

    Projected Gauss-Seidel (coordinate descent) sweeps, all rows of `lower`
    at once: `v_j <- max(lower_j, v_j - (K v)_j / K_jj)`. Coordinates with
    `K_jj = 0` (a zero gradient) stay at their bound.

    Args:
        k: `(T, T)` Gram matrix.
        lower: `(R, T)` lower bounds (one problem per row).
        num_sweeps: Maximum sweeps over the coordinates.
        tol: Stop when no entry moved by more than `tol` in a sweep.

    Returns:
        `(R, T)` solutions.
    """
    k = tf.convert_to_tensor(k, tf.float32)
    t = k.shape[0]
    diag = tf.linalg.diag_part(k)

    eye = tf.eye(t)

    def body(i, v, change):
        start = v
        for j in range(t):
            kv_j = tf.linalg.matvec(v, k[:, j])  # (R,)
            new = tf.maximum(lower[:, j], v[:, j] - tf.math.divide_no_nan(kv_j, diag[j]))
            new = tf.where(diag[j] > 0, new, lower[:, j])
            v = v + (new - v[:, j])[:, None] * eye[j][None, :]
        return i + 1, v, tf.reduce_max(tf.abs(v - start))

    def cond(i, v, change):
        return tf.logical_and(i < num_sweeps, change > tol)

    _, v, _ = tf.while_loop(cond, body, (tf.constant(0), lower, tf.constant(1.0)))
    return v


def upgrad(grads, present=None, num_sweeps: int = 100):
    """Combines per-task gradients with UPGrad.

    Each task gradient `g_i / T` is projected onto the dual cone of the rows
    of `G`, `{x : G x >= 0}`; in weight space that is
    `v_i = argmin_{v >= e_i / T} v^T G G^T v`. The direction is the sum of the
    projections, `d = G^T sum_i v_i`: the **mean** convention (torchjd's
    default preference vector `1/T`). By the KKT conditions, `G d >= 0`: the
    update does not conflict with any task. The quadratic programs are
    solved with projected Gauss-Seidel sweeps (an iterative approximation of
    torchjd's exact QP solver) on the Gram matrix normalised by its largest
    diagonal entry.

    Args:
        grads: `(num_tasks, dim)` per-task gradients.
        present: Optional `(num_tasks,)` 0/1 mask; absent tasks are left out
            (the preference is `1 / number_present`).
        num_sweeps: Coordinate-descent sweeps.

    Returns:
        `(direction (dim,), weights (num_tasks,))`.

    Example:

    >>> d, w = upgrad([[1.0, 0.0], [-1.0, 1.0]])
    >>> [round(float(v), 3) for v in d]
    [0.25, 0.75]
    """
    grads = as_matrix(grads)
    present = as_present(present, grads)
    weights = _upgrad_weights(masked_gram(grads, present), present, int(num_sweeps))
    return weighted_sum(weights * present, grads), weights


@compiled
def _upgrad_weights(k, present, num_sweeps):
    s = tf.reduce_max(tf.linalg.diag_part(k))
    kn = k / tf.where(s > 0, s, 1.0)
    pref = tf.math.divide_no_nan(present, tf.reduce_sum(present))
    v = project_weights(kn, tf.linalg.diag(pref), num_sweeps)
    return tf.reduce_sum(v, axis=0) * present


@keras.saving.register_keras_serializable(package="mtl_keras")
class UPGrad(SharedGradientWeighting):
    """UPGrad (Quinton & Rey, 2024) as a `compile(weighting=...)` strategy.

    Averages the projections of the task gradients onto the cone of
    non-conflicting directions (see `upgrad`).

    Args:
        mode: `"parameters"` (default) or `"representation"`.
        num_sweeps: Coordinate-descent sweeps of the inner solver.

    Example:

    >>> import mtl_keras as mtl
    >>> mtl.weighting.UPGrad(num_sweeps=50).get_config()["num_sweeps"]
    50
    """

    def __init__(self, mode: str = "parameters", num_sweeps: int = 100, **kwargs):
        super().__init__(mode=mode, **kwargs)
        if not isinstance(num_sweeps, int) or num_sweeps < 1:
            raise ValueError(
                f"Expected num_sweeps to be an int >= 1. Received: num_sweeps={num_sweeps!r}")
        self.num_sweeps = num_sweeps

    def combine_gradients(self, grads, present):
        return upgrad(grads, present, self.num_sweeps)

    def get_config(self):
        config = super().get_config()
        config["num_sweeps"] = self.num_sweeps
        return config
