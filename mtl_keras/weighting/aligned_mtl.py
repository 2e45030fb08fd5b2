"""Aligned-MTL: align the principal components of the gradient system.

Senushkin, Patakin, Kuznetsov and Konushin, "Independent Component Alignment
for Multi-Task Learning", CVPR 2023.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from mtl_keras.weighting.base import SharedGradientWeighting
from mtl_keras.weighting.gradient_common import compiled
from mtl_keras.weighting.numerics import RCOND, finish, prepare


def aligned_mtl(grads, present=None):
    """Combines per-task gradients with Aligned-MTL.

    With the eigendecomposition `G G^T = V diag(lambda) V^T` restricted to the
    non-zero eigenvalues (rank `r`; eigenvalues below `128 T eps max(lambda)`
    count as zero, `eps = 2^-23`: the paper's `T eps` is below the float32
    rounding of a Gram matrix, and a rounding-level eigenvalue kept as
    `lambda_r` would shrink the update to almost nothing), the
    balance transformation is `B = sqrt(lambda_r) V diag(lambda)^{-1/2} V^T`
    (`lambda_r` the smallest non-zero eigenvalue): it makes the gradient
    system orthogonal with equal singular values. Weights `alpha = B 1` and
    `d = sum_i alpha_i g_i`: the **sum** convention of the paper's
    Algorithm 1 and LibMTL (torchjd uses the mean: divide by `T`).

    Accuracy: exact up to float32 rounding (a `T x T` symmetric
    eigendecomposition of the power-of-two-normalised Gram matrix; the rank
    cutoff is relative). Scale: weights are invariant and the direction
    homogeneous of degree 1 (`aligned_mtl(s G) = s aligned_mtl(G)`),
    exactly for powers of two.

    Args:
        grads: `(num_tasks, dim)` per-task gradients.
        present: Optional `(num_tasks,)` 0/1 mask; absent tasks are left out.

    Returns:
        `(direction (dim,), weights (num_tasks,))`; zeros if every gradient is 0.

    Raises:
        ValueError: For a malformed matrix or mask or (eagerly) NaN or inf in
            a present row; in a graph such input gives the zero update.

    Example:

    >>> d, w = aligned_mtl([[1.0, 0.0], [0.0, 2.0]])
    >>> [round(float(v), 3) for v in w]
    [1.0, 0.5]
    """
    prep = prepare(grads, present, "aligned_mtl")
    return finish(_aligned_weights(prep.k, prep.present), prep)


@compiled
def _aligned_weights(k, present):
    t = k.shape[0]
    lam, v = tf.linalg.eigh(k)
    tol = tf.reduce_max(lam) * float(t) * RCOND
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

    def combine_gradients(self, grads, present, losses=None):
        return aligned_mtl(grads, present)
