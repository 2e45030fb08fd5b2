"""MGDA: the min-norm point of the convex hull of the task gradients.

Sener and Koltun, "Multi-Task Learning as Multi-Objective Optimization",
NeurIPS 2018. With `mode="representation"` this is their MGDA-UB variant (the
gradients w.r.t. the shared representation give an upper bound of the
objective); `compile(weighting="mgda_ub")` selects it.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from mtl_keras.weighting.gradient_common import (
    SharedGradientWeighting, as_matrix, compiled, as_present, masked_gram, safe_sqrt, weighted_sum,
)

NORMALIZATIONS = ("none", "l2")


def min_norm_weights(k, present=None, max_iter: int = 250, tol: float = 1e-6):
    """Frank-Wolfe solver of `min_{w in simplex} w^T K w` over the present tasks.

    Each iteration moves towards the vertex `e_t` with the smallest
    `(K w)_t` with the exact line search on the segment (Sener & Koltun,
    Algorithm 2); it stops when the weights move by less than `tol`.

    Args:
        k: `(num_tasks, num_tasks)` Gram matrix.
        present: Optional 0/1 mask of tasks on the simplex.
        max_iter: Maximum number of Frank-Wolfe steps.
        tol: Stop when the L1 change of the weights falls below it.

    Returns:
        `(num_tasks,)` weights on the simplex (0 for absent tasks).
    """
    k = tf.convert_to_tensor(k, tf.float32)
    t = k.shape[0]
    present = tf.ones([t]) if present is None else tf.cast(present, tf.float32)
    n = tf.reduce_sum(present)
    w0 = tf.math.divide_no_nan(present, n)
    eye = tf.eye(t)
    big = tf.fill([t], float("inf"))
    diag = tf.linalg.diag_part(k)

    def body(i, w, change):
        kw = tf.linalg.matvec(k, w)
        j = tf.argmin(tf.where(present > 0, kw, big), output_type=tf.int32)
        v1v1 = tf.tensordot(w, kw, 1)
        v1v2 = tf.gather(kw, j)
        v2v2 = tf.gather(diag, j)  # gather, not k[j, j]: XLA needs static slices
        denom = v1v1 + v2v2 - 2.0 * v1v2
        gamma = tf.clip_by_value(tf.math.divide_no_nan(v1v1 - v1v2, denom), 0.0, 1.0)
        new_w = (1.0 - gamma) * w + gamma * tf.gather(eye, j)
        return i + 1, new_w, tf.reduce_sum(tf.abs(new_w - w))

    def cond(i, w, change):
        return tf.logical_and(i < max_iter, change > tol)

    _, w, _ = tf.while_loop(cond, body, (tf.constant(0), w0, tf.constant(1.0)))
    return w * tf.cast(n > 0, tf.float32)


def mgda(grads, present=None, normalization: str = "none", max_iter: int = 250):
    """Combines per-task gradients with MGDA's min-norm rule.

    `w* = argmin_{w in simplex} ||sum_i w_i g_i||^2`, direction
    `d = sum_i w*_i g_i`: the min-norm point of the convex hull of the
    gradients; `d . g_i >= ||d||^2` for every task, so it descends all tasks
    (zero at a Pareto-stationary point). Convention: a **convex combination**
    (weights sum to 1, like a mean).

    Args:
        grads: `(num_tasks, dim)` per-task gradients.
        present: Optional `(num_tasks,)` 0/1 mask; absent tasks get weight 0.
        normalization: `"none"` (default) or `"l2"`: solve on unit-norm
            gradients `g_i / ||g_i||`; the returned weights then apply to
            the original gradients (`w*_i / ||g_i||`).
        max_iter: Frank-Wolfe iterations (stops earlier at convergence).

    Returns:
        `(direction (dim,), weights (num_tasks,))`.

    Example:

    >>> d, w = mgda([[1.0, 0.0], [0.0, 1.0]])
    >>> [round(float(v), 3) for v in w]
    [0.5, 0.5]
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"Expected normalization in {list(NORMALIZATIONS)}. "
            f"Received: normalization={normalization!r}"
        )
    grads = as_matrix(grads)
    present = as_present(present, grads)
    k = masked_gram(grads, present)
    if normalization == "l2":
        norms = safe_sqrt(tf.linalg.diag_part(k))
        inv = tf.math.divide_no_nan(1.0, norms)
        w = _min_norm(k * inv[:, None] * inv[None, :], present, int(max_iter)) * inv
    else:
        w = _min_norm(k, present, int(max_iter))
    return weighted_sum(w * present, grads), w


_min_norm = compiled(min_norm_weights)


@keras.saving.register_keras_serializable(package="mtl_keras")
class MGDA(SharedGradientWeighting):
    """MGDA (Sener & Koltun, NeurIPS 2018); MGDA-UB with `mode="representation"`.

    Solves `min_{w in simplex} ||sum_i w_i g_i||^2` with the Frank-Wolfe
    solver each step and follows `sum_i w_i g_i` (see `mgda`).

    Args:
        mode: `"parameters"` (default, MGDA) or `"representation"` (MGDA-UB).
        normalization: `"none"` (default) or `"l2"` gradient normalisation.
        max_iter: Frank-Wolfe iterations per step.

    Example:

    >>> import mtl_keras as mtl
    >>> mtl.weighting.get("mgda_ub").mode
    'representation'
    """

    def __init__(self, mode: str = "parameters", normalization: str = "none",
                 max_iter: int = 250, **kwargs):
        super().__init__(mode=mode, **kwargs)
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"Expected normalization in {list(NORMALIZATIONS)}. "
                f"Received: normalization={normalization!r}"
            )
        if not isinstance(max_iter, int) or max_iter < 1:
            raise ValueError(f"Expected max_iter to be an int >= 1. Received: max_iter={max_iter!r}")
        self.normalization = normalization
        self.max_iter = max_iter

    def combine_gradients(self, grads, present):
        return mgda(grads, present, self.normalization, self.max_iter)

    def get_config(self):
        config = super().get_config()
        config.update(normalization=self.normalization, max_iter=self.max_iter)
        return config


def mgda_ub() -> MGDA:
    """MGDA-UB: MGDA on the gradients w.r.t. the shared representation."""
    return MGDA(mode="representation")
