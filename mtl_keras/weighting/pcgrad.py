"""PCGrad: gradient surgery by projecting conflicting gradients.

Yu, Kumar, Gupta, Levine, Hausman and Finn, "Gradient Surgery for Multi-Task
Learning", NeurIPS 2020.
"""

from __future__ import annotations


import keras
import tensorflow as tf

from mtl_keras.weighting.base import SharedGradientWeighting
from mtl_keras.weighting.gradient_common import compiled, hashed_bits
from mtl_keras.weighting.numerics import finish, prepare


def random_orders(num_tasks: int, seed) -> tf.Tensor:
    """`(num_tasks, num_tasks)` int32: row `i` is a random permutation of the tasks."""
    # Unique integer keys (23 random bits, then the column), so that sorting
    # has no ties and gives the same order in every graph, compiled or not.
    bits = tf.bitwise.right_shift(hashed_bits([num_tasks, num_tasks], seed),
                                  tf.constant(9, tf.uint32))
    keys = tf.cast(bits, tf.int64) * num_tasks + tf.range(num_tasks, dtype=tf.int64)
    return tf.cast(tf.argsort(keys, axis=1), tf.int32)


def pcgrad(grads, present=None, seed=(0, 0)):
    """Combines per-task gradients with PCGrad.

    For every task `i`, in a random order over the other tasks `j`:
    `g_i <- g_i - min(g_i . g_j, 0) / ||g_j||^2 * g_j` (projection onto the
    normal plane of the original `g_j` when they conflict). The direction is
    the **sum** of the projected gradients (the paper's convention). Computed
    on the Gram matrix, so every projected gradient is a linear combination
    `g_i' = sum_j C_ij g_j` and the implied weights are `sum_i C_ij`.

    Accuracy: exact up to float32 rounding (no solver; a zero gradient is
    never projected on). Scale: weights are invariant and the direction
    homogeneous of degree 1 (`pcgrad(s G) = s pcgrad(G)`), exactly for
    powers of two, since the projections only use ratios of inner products
    of the power-of-two-normalised Gram matrix.

    Args:
        grads: `(num_tasks, dim)` per-task gradients (static `num_tasks`).
        present: Optional `(num_tasks,)` 0/1 mask; absent tasks are left out.
        seed: Stateless seed, a pair of ints (or an int64 `(2,)` tensor),
            fixing the projection orders.

    Returns:
        `(direction (dim,), weights (num_tasks,))` with `direction = weights @ grads`.

    Raises:
        ValueError: For a malformed matrix or mask or (eagerly) NaN or inf in
            a present row; in a graph such input gives the zero update.

    Example:

    >>> d, w = pcgrad([[1.0, 0.0], [-1.0, 1.0]])
    >>> [round(float(v), 3) for v in d]
    [0.5, 1.5]
    """
    prep = prepare(grads, present, "pcgrad")
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    weights = _pcgrad_weights(prep.k, prep.present, random_orders(prep.grads.shape[0], seed))
    return finish(weights, prep)


@compiled
def _pcgrad_weights(k, present, orders):
    # Row i of `c` holds the coefficients of task i's projected gradient
    # g_i' = sum_j c_ij g_j. Every task runs its own random order; the tasks
    # are processed side by side, one position of the orders at a time.
    t = k.shape[0]
    sq = tf.linalg.diag_part(k)
    eye = tf.eye(t)
    c = eye
    for step in range(t):
        j = orders[:, step]                               # (t,) one j per task
        dot = tf.reduce_sum(c * tf.gather(k, j), axis=1)  # g_i' . g_j
        coef = tf.where(
            tf.logical_and(dot < 0.0, tf.not_equal(j, tf.range(t))),
            tf.math.divide_no_nan(dot, tf.gather(sq, j)),
            0.0,
        )
        c = c - coef[:, None] * tf.gather(eye, j)
    return tf.reduce_sum(c * present[:, None], axis=0) * present


@keras.saving.register_keras_serializable(package="mtl_keras")
class PCGrad(SharedGradientWeighting):
    """PCGrad (Yu et al., NeurIPS 2020) as a `compile(weighting=...)` strategy.

    Each task gradient has its conflicting components (negative inner
    product) with the other tasks' gradients projected away, in a random
    order; the projected gradients are summed (see `pcgrad`).

    Args:
        mode: `"parameters"` (default) or `"representation"`.
        seed: Optional int seeding the projection orders (random if None).
            The step counter is folded in, so orders change every step.

    Example:

    >>> import mtl_keras as mtl
    >>> strategy = mtl.weighting.PCGrad(mode="representation", seed=1)
    >>> strategy.get_config()["mode"]
    'representation'
    """

    def __init__(self, mode: str = "parameters", seed: int | None = None, **kwargs):
        super().__init__(mode=mode, **kwargs)
        self.set_seed(seed)

    def combine_gradients(self, grads, present, losses=None):
        return pcgrad(grads, present, seed=self.next_seed())
