"""Aligned-MTL: align the principal components of the gradient system.

Senushkin, Patakin, Kuznetsov and Konushin, "Independent Component Alignment
for Multi-Task Learning", CVPR 2023.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from mtl_keras.weighting.gradient_common import (
    SharedGradientWeighting, as_matrix, compiled, as_present, masked_gram, weighted_sum,
)


def aligned_mtl(grads, present=None):
    """Combines per-task gradients with Aligned-MTL.

    With the eigendecomposition `G G^T = V diag(lambda) V^T` restricted to the
    non-zero eigenvalues (rank `r`, tolerance `max(lambda) * T * eps`), the
    balance transformation is `B = sqrt(lambda_r) V diag(lambda)^{-1/2} V^T`
    (`lambda_r` the smallest non-zero eigenvalue): it makes the gradient
    system orthogonal with equal singular values. Weights `alpha = B 1` and
    `d = sum_i alpha_i g_i`: the **sum** convention of the paper's
    Algorithm 1 and LibMTL (torchjd uses the mean: divide by `T`).

    Args:
        grads: `(num_tasks, dim)` per-task gradients.
        present: Optional `(num_tasks,)` 0/1 mask; absent tasks are left out.

    Returns:
        `(direction (dim,), weights (num_tasks,))`; zeros if every gradient is 0.

    Example:

    >>> d, w = aligned_mtl([[1.0, 0.0], [0.0, 2.0]])
    >>> [round(float(v), 3) for v in w]
    [1.0, 0.5]
    """
    grads = as_matrix(grads)
    present = as_present(present, grads)
    alpha = _aligned_weights(masked_gram(grads, present), present)
    return weighted_sum(alpha * present, grads), alpha


@compiled
def _aligned_weights(k, present):
    t = k.shape[0]
    lam, v = tf.linalg.eigh(k)
    tol = tf.reduce_max(lam) * float(t) * 1.1920929e-07
    keep = lam > tf.maximum(tol, 0.0)
    safe = tf.where(keep, lam, 1.0)
    inv_sqrt = tf.where(keep, tf.math.rsqrt(safe), 0.0)
    smallest = tf.reduce_min(tf.where(keep, lam, float("inf")))
    scale = tf.where(tf.reduce_any(keep), tf.sqrt(tf.maximum(smallest, 0.0)), 0.0)
    b = scale * tf.matmul(v * inv_sqrt[None, :], v, transpose_b=True)
    return tf.reduce_sum(b, axis=1) * present


@keras.saving.register_keras_serializable(package="mtl_keras")
class AlignedMTL(SharedGradientWeighting):
    """Aligned-MTL (Senushkin et al., CVPR 2023) as a `compile(weighting=...)` strategy.

    Rescales the principal components of the gradient matrix to the
    smallest singular value before summing (see `aligned_mtl`). The paper's
    "Aligned-MTL-UB" is `mode="representation"`.

    Args:
        mode: `"parameters"` (default) or `"representation"`.

    Example:

    >>> import mtl_keras as mtl
    >>> type(mtl.weighting.get("aligned_mtl")).__name__
    'AlignedMTL'
    """

    def combine_gradients(self, grads, present):
        return aligned_mtl(grads, present)
