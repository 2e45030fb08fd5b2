"""UPGrad: unconflicting projection of gradients (Jacobian descent).

Quinton and Rey, "Jacobian Descent for Multi-Objective Optimization",
arXiv:2406.16232, 2024.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from mtl_keras._validators import check_int
from mtl_keras.weighting.base import SharedGradientWeighting
from mtl_keras.weighting.gradient_common import compiled
from mtl_keras.weighting.numerics import as_int, finish, prepare, warn_if_unconverged
from mtl_keras.weighting.solvers import lower_bounded_qp


def project_weights(k, lower, num_sweeps: int = 100):
    """Solves `min_v v^T K v` s.t. `v >= lower`, row by row, exactly.

    The active-set method of `solvers.lower_bounded_qp` (Lawson and Hanson's
    non-negative least squares in the Gram matrix) on `K` divided by its
    largest diagonal entry. Coordinates with `K_jj = 0` (a zero gradient)
    stay at their bound.

    Args:
        k: `(T, T)` Gram matrix.
        lower: `(R, T)` lower bounds (one problem per row).
        num_sweeps: Iteration cap of the active-set method (the name is kept
            from the projected Gauss-Seidel sweeps it replaces).

    Returns:
        `(R, T)` solutions.

    Example:

    >>> v = project_weights([[1.0, -1.0], [-1.0, 2.0]], [[0.5, 0.0]])
    >>> [round(float(x), 3) for x in v[0]]
    [0.5, 0.25]
    """
    k = tf.convert_to_tensor(k, tf.float32)
    lower = tf.convert_to_tensor(lower, tf.float32)
    s = tf.reduce_max(tf.linalg.diag_part(k))
    k = k / tf.where(s > 0, s, 1.0)
    v, _ = _project(k, lower, tf.ones([k.shape[0]], tf.bool), as_int(num_sweeps))
    return v


_project = compiled(lower_bounded_qp)


def upgrad(grads, present=None, num_sweeps: int = 100):
    """Combines per-task gradients with UPGrad.

    Each task gradient `g_i / T` is projected onto the dual cone of the rows
    of `G`, `{x : G x >= 0}`; in weight space that is
    `v_i = argmin_{v >= e_i / T} v^T G G^T v`. The direction is the sum of the
    projections, `d = G^T sum_i v_i`: the **mean** convention (torchjd's
    default preference vector `1/T`). By the KKT conditions, `G d >= 0`: the
    update does not conflict with any task.

    Accuracy: the `T` quadratic programs are solved exactly (the active-set
    method of `solvers.lower_bounded_qp`, as torchjd's QP solver does) on the
    power-of-two-normalised Gram matrix; at the end the KKT conditions hold
    to float32 rounding, in particular `g_j . d >= -4 T eps |g_j| sum_i w_i
    |g_i|` for every task (`w` the returned weights, `eps = 2^-23`). Tested against a float64
    reference (scipy's NNLS): within 1e-5 relative on well-conditioned
    matrices. Scale: homogeneous of degree 1 (`upgrad(s G) = s upgrad(G)`,
    same weights), exactly for powers of two.

    Args:
        grads: `(num_tasks, dim)` per-task gradients.
        present: Optional `(num_tasks,)` 0/1 mask; absent tasks are left out
            (the preference is `1 / number_present`).
        num_sweeps: Iteration cap of the active-set method (never reached in
            the tests; eagerly, a `RuntimeWarning` says when it is).

    Returns:
        `(direction (dim,), weights (num_tasks,))`.

    Raises:
        ValueError: For a malformed matrix or mask or (eagerly) NaN or inf in
            a present row; in a graph such input gives the zero update.

    Example:

    >>> d, w = upgrad([[1.0, 0.0], [-1.0, 1.0]])
    >>> [round(float(v), 3) for v in d]
    [0.25, 0.75]
    """
    prep = prepare(grads, present, "upgrad")
    weights, converged = _upgrad_weights(prep.k, prep.present, as_int(num_sweeps))
    warn_if_unconverged(converged, "upgrad", f"num_sweeps={num_sweeps}")
    return finish(weights, prep)


@compiled
def _upgrad_weights(k, present, num_sweeps):
    pref = tf.math.divide_no_nan(present, tf.reduce_sum(present))
    v, done = lower_bounded_qp(k, tf.linalg.diag(pref), present > 0, num_sweeps)
    return tf.reduce_sum(v, axis=0) * present, tf.reduce_all(done)


@keras.saving.register_keras_serializable(package="mtl_keras")
class UPGrad(SharedGradientWeighting):
    """UPGrad (Quinton & Rey, 2024) as a `compile(weighting=...)` strategy.

    Averages the projections of the task gradients onto the cone of
    non-conflicting directions (see `upgrad`).

    Args:
        mode: `"parameters"` (default) or `"representation"`.
        num_sweeps: Iteration cap of the inner active-set solver.

    Example:

    >>> import mtl_keras as mtl
    >>> mtl.weighting.UPGrad(num_sweeps=50).get_config()["num_sweeps"]
    50
    """

    def __init__(self, mode: str = "parameters", num_sweeps: int = 100, **kwargs):
        super().__init__(mode=mode, **kwargs)
        self.num_sweeps = check_int(num_sweeps, "num_sweeps", min_value=1)

    def combine_gradients(self, grads, present, losses=None):
        return upgrad(grads, present, self.num_sweeps)

    def get_config(self):
        config = super().get_config()
        config["num_sweeps"] = self.num_sweeps
        return config
