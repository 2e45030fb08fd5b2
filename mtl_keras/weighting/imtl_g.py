"""IMTL-G: impartial multi-task learning, gradient part.

Liu, Li, Kuang, Xue, Chen, Yang, Liao and Zhang, "Towards Impartial
Multi-task Learning", ICLR 2021.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from mtl_keras.weighting.base import SharedGradientWeighting
from mtl_keras.weighting.gradient_common import compiled
from mtl_keras.weighting.numerics import RCOND, cosines, finish, prepare


def imtl_g(grads, present=None):
    """Combines per-task gradients with IMTL-G.

    Finds `alpha` with `sum_i alpha_i = 1` such that `d = sum_i alpha_i g_i`
    has the same projection on every unit gradient `u_i = g_i / ||g_i||`:
    `d . u_i = d . u_j` for all tasks. In the paper's closed form
    `alpha_{2:T} = g_1 U^T (D U^T)^{-1}` the badly scaled system mixes
    gradients and unit vectors; here it is solved in scale-free form: with
    the cosine matrix `C` (`C_ij = u_i . u_j`), `x = C^+ 1` gives
    `d ~ sum_i x_i u_i` with `d . u_i = (C x)_i = 1`, and
    `alpha_i = (x_i / ||g_i||) / sum_j (x_j / ||g_j||)`. Convention: weights
    sum to 1. Absent tasks and zero gradients get weight 0.

    Rank-deficient gradients (eigenvalues of `C` below `128 T eps` times the
    largest, `eps = 2^-23`; e.g. `g3 = g1 + g2`): `x` is the minimum-norm
    least-squares solution of `C x = 1`. When `1` is in the range of `C`
    the projections are still exactly equal; otherwise they are equal in the
    least-squares sense (`C x` is the projection of `1` onto the range of
    `C`) and positive, never a silent zero update. (The exact equations of
    the paper then only have `d = 0`.) Two rare cases are handled too:

    * no direction has positive projections on every task (`C x = 0`, e.g.
      two opposed gradients): `d = 0`, with the weights of the exact
      solution of the paper's equations (`(1/2, 1/2)` for two opposed
      gradients);
    * the equal-projection direction needs weights whose sum is negative or
      below `2^-10` of their absolute sum: the weights are divided by
      `max(|sum|, 2^-10 sum of |weights|)` instead of the sum, so the
      projections stay positive (the paper's normalisation would flip the
      direction or blow it up).

    Accuracy: exact up to float32 rounding (a `T x T` symmetric
    eigendecomposition); tested against a float64 reference. Scale: weights
    are invariant and the direction homogeneous of degree 1
    (`imtl_g(s G) = s imtl_g(G)`), exactly for powers of two.

    Args:
        grads: `(num_tasks, dim)` per-task gradients.
        present: Optional `(num_tasks,)` 0/1 mask.

    Returns:
        `(direction (dim,), weights (num_tasks,))`.

    Raises:
        ValueError: For a malformed matrix or mask or (eagerly) NaN or inf in
            a present row; in a graph such input gives the zero update.

    Example:

    >>> d, w = imtl_g([[2.0, 0.0], [0.0, 1.0]])
    >>> [round(float(v), 3) for v in w]
    [0.333, 0.667]
    """
    prep = prepare(grads, present, "imtl_g")
    return finish(_imtl_weights(prep.k, prep.present), prep)


@compiled
def _imtl_weights(k, present):
    t = k.shape[0]
    norms = tf.sqrt(tf.maximum(tf.linalg.diag_part(k), 0.0))
    active = tf.logical_and(present > 0, norms > 0)
    ones = tf.cast(active, tf.float32)
    c = cosines(k) * ones[:, None] * ones[None, :]
    lam, v = tf.linalg.eigh(c)
    keep = lam > RCOND * t * tf.reduce_max(lam)
    inv = tf.where(keep, 1.0 / tf.where(keep, lam, 1.0), 0.0)
    coords = tf.linalg.matvec(v, ones, transpose_a=True)
    x = tf.linalg.matvec(v, inv * coords) * ones            # C^+ 1
    proj = tf.tensordot(ones, tf.linalg.matvec(c, x), 1)    # 1 . C x = |P_range 1|^2
    y = tf.math.divide_no_nan(x, norms)                      # x_i / ||g_i||
    total = tf.reduce_sum(y)
    scale = tf.maximum(tf.abs(total), 2.0 ** -10 * tf.reduce_sum(tf.abs(y)))
    alpha = tf.math.divide_no_nan(y, scale)
    # No direction with positive projections (1 orthogonal to the range of
    # C): d = 0, weights from the null space, y in null(C), sum y_i/|g_i| = 1.
    inv_norms = tf.math.divide_no_nan(ones, norms)
    null = tf.linalg.matvec(v, tf.where(keep, 0.0, 1.0)
                            * tf.linalg.matvec(v, inv_norms, transpose_a=True)) * ones
    null_alpha = tf.math.divide_no_nan(null * inv_norms, tf.tensordot(null, inv_norms, 1))
    none = proj <= RCOND * t * tf.reduce_sum(ones)
    return tf.where(none, null_alpha, alpha)


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

    def combine_gradients(self, grads, present, losses=None):
        return imtl_g(grads, present)
