"""IMTL-G: impartial multi-task learning, gradient part.

Liu, Li, Kuang, Xue, Chen, Yang, Liao and Zhang, "Towards Impartial
Multi-task Learning", ICLR 2021.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from mtl_keras.weighting.gradient_common import (
    SharedGradientWeighting, as_matrix, as_present, masked_gram, safe_sqrt, weighted_sum,
)


def imtl_g(grads, present=None):
    """Combines per-task gradients with IMTL-G.

    Finds `alpha` with `sum_i alpha_i = 1` such that `d = sum_i alpha_i g_i`
    has the same projection on every unit gradient `u_i = g_i / ||g_i||`:
    `d . u_i = d . u_j` for all tasks. This is the paper's closed form
    `alpha_{2:T} = g_1 U^T (D U^T)^{-1}` (`D` rows `g_1 - g_i`, `U` rows
    `u_1 - u_i`), written as one linear system in the Gram matrix and solved
    with a pseudo-inverse so that (near-)singular cases stay finite.
    Convention: weights sum to 1. Absent tasks and zero gradients get weight 0.

    Args:
        grads: `(num_tasks, dim)` per-task gradients.
        present: Optional `(num_tasks,)` 0/1 mask.

    Returns:
        `(direction (dim,), weights (num_tasks,))`.

    Example:

    >>> d, w = imtl_g([[2.0, 0.0], [0.0, 1.0]])
    >>> [round(float(v), 3) for v in w]
    [0.333, 0.667]
    """
    grads = as_matrix(grads)
    present = as_present(present, grads)
    alpha = _imtl_weights(masked_gram(grads, present), present)
    return weighted_sum(alpha * present, grads), alpha


def _imtl_weights(k, present):
    t = k.shape[0]
    norms = safe_sqrt(tf.linalg.diag_part(k))
    active = tf.cast(norms > 0, tf.float32) * present
    inv = tf.math.divide_no_nan(1.0, norms)
    # Unknowns [alpha (t), lam]: active i: (K alpha)_i / ||g_i|| - lam = 0;
    # inactive i: alpha_i = 0; and sum(alpha) = 1.
    proj = k * inv[:, None]
    rows = active[:, None] * proj + (1.0 - active)[:, None] * tf.eye(t)
    lam_col = -active[:, None]
    top = tf.concat([rows, lam_col], axis=1)
    last = tf.concat([active, tf.zeros([1])], axis=0)[None, :]
    a = tf.concat([top, last], axis=0)
    b = tf.concat([tf.zeros([t]), tf.ones([1])], axis=0)
    sol = tf.linalg.matvec(tf.linalg.pinv(a), b)
    return sol[:t] * active * tf.cast(tf.reduce_sum(active) > 0, tf.float32)


@keras.saving.register_keras_serializable(package="mtl_keras")
class IMTLG(SharedGradientWeighting):
    """IMTL-G (Liu et al., ICLR 2021) as a `compile(weighting=...)` strategy.

    The combined update has equal projections onto every task's unit
    gradient (see `imtl_g`).

    Args:
        mode: `"parameters"` (default) or `"representation"` (the paper's
            setting: gradients w.r.t. the shared feature).

    Example:

    >>> import mtl_keras as mtl
    >>> mtl.weighting.get("imtl_g").mode
    'parameters'
    """

    def combine_gradients(self, grads, present):
        return imtl_g(grads, present)
