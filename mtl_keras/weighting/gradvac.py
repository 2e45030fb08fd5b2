"""GradVac: gradient vaccine, aligning gradients towards a target similarity.

Wang, Tsvetkov, Firat and Cao, "Gradient Vaccine: Investigating and Improving
Multi-task Optimization in Massively Multilingual Models", ICLR 2021.
"""

from __future__ import annotations


import keras
import tensorflow as tf

from mtl_keras._validators import check_number
from mtl_keras.weighting.base import SharedGradientWeighting
from mtl_keras.weighting.gradient_common import compiled, safe_sqrt
from mtl_keras.weighting.numerics import finish, prepare
from mtl_keras.weighting.pcgrad import random_orders


def gradvac(grads, targets, present=None, beta: float = 0.5, seed=(0, 0)):
    """Combines per-task gradients with GradVac.

    For every task `i` and, in a random order, every other task `j` with
    cosine `phi = cos(g_i', g_j)` below the target `phi_hat_ij`:

        g_i' <- g_i' + ||g_i'|| (phi_hat sqrt(1 - phi^2) - phi sqrt(1 - phi_hat^2))
                       / (||g_j|| sqrt(1 - phi_hat^2)) g_j

    which raises the cosine to `phi_hat_ij`. The targets are then updated as
    an exponential moving average, `phi_hat_ij <- (1 - beta) phi_hat_ij +
    beta phi` (only for pairs of present tasks). With all targets 0 the rule
    equals PCGrad. The direction is the **sum** of the adjusted gradients;
    computed on the Gram matrix, so implied weights are returned. The paper
    applies it per layer; here it acts on the whole flattened matrix.

    Accuracy: exact up to float32 rounding (no solver). Scale: the weights
    and the new targets are invariant and the direction homogeneous of
    degree 1 (`gradvac(s G) = s gradvac(G)`), exactly for powers of two: the
    norms come from the power-of-two-normalised Gram matrix, with no
    epsilon (a gradient is left alone only when it is exactly zero).

    Args:
        grads: `(num_tasks, dim)` per-task gradients.
        targets: `(num_tasks, num_tasks)` current targets `phi_hat`.
        present: Optional `(num_tasks,)` 0/1 mask; absent tasks are left out.
        beta: EMA rate of the targets, in `[0, 1]`.
        seed: Stateless seed of the random orders.

    Returns:
        `(direction (dim,), weights (num_tasks,), new_targets)`.

    Raises:
        ValueError: For a malformed matrix or mask or (eagerly) NaN or inf in
            a present row; in a graph such input gives the zero update and
            unchanged targets.

    Example:

    >>> import tensorflow as tf
    >>> d, w, t = gradvac([[1.0, 0.0], [-1.0, 1.0]], tf.zeros((2, 2)))
    >>> [round(float(v), 3) for v in d]
    [0.5, 1.5]
    """
    prep = prepare(grads, present, "gradvac")
    targets = tf.convert_to_tensor(targets, tf.float32)
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    weights, new_targets = _gradvac_weights(prep.k, targets, prep.present,
                                            random_orders(prep.grads.shape[0], seed), float(beta))
    # Non-finite input (graphs only): zero update, targets left alone.
    new_targets = tf.where(prep.finite, new_targets, targets)
    return (*finish(weights, prep), new_targets)


@compiled
def _gradvac_weights(k, targets, present, orders, beta):
    # As PCGrad's solver: row i of `c` is task i's adjusted gradient in the
    # basis of the task gradients; the tasks advance through their random
    # orders side by side.
    t = k.shape[0]
    norms = safe_sqrt(tf.linalg.diag_part(k))
    eye = tf.eye(t)
    tasks = tf.range(t)
    c = eye
    for step in range(t):
        j = orders[:, step]                                    # (t,)
        one_hot = tf.gather(eye, j)                            # (t, t)
        norm_i = safe_sqrt(tf.reduce_sum(tf.matmul(c, k) * c, axis=1))
        norm_j = tf.gather(norms, j)
        phi = tf.clip_by_value(tf.math.divide_no_nan(
            tf.reduce_sum(c * tf.gather(k, j), axis=1), norm_i * norm_j), -1.0, 1.0)
        phi_hat = tf.clip_by_value(tf.reduce_sum(targets * one_hot, axis=1), -1.0, 1.0)
        both = tf.logical_and(
            tf.logical_and(present > 0, tf.gather(present, j) > 0),
            tf.logical_and(tf.not_equal(j, tasks), norm_i * norm_j > 0))
        root_hat = tf.sqrt(1.0 - phi_hat * phi_hat)
        coef = norm_i * (phi_hat * tf.sqrt(1.0 - phi * phi) - phi * root_hat)
        coef = tf.math.divide_no_nan(coef, norm_j * root_hat)
        coef = tf.where(tf.logical_and(both, phi < phi_hat), coef, 0.0)
        c = c + coef[:, None] * one_hot
        updated = (1.0 - beta) * phi_hat + beta * phi
        targets = tf.where(tf.logical_and(both[:, None], one_hot > 0),
                           updated[:, None], targets)
    return tf.reduce_sum(c * present[:, None], axis=0) * present, targets


@keras.saving.register_keras_serializable(package="mtl_keras")
class GradVac(SharedGradientWeighting):
    """GradVac (Wang et al., ICLR 2021) as a `compile(weighting=...)` strategy.

    Keeps the `(num_tasks, num_tasks)` EMA of pairwise cosine similarities in
    a non-trainable variable (saved with the model) and raises each pair's
    similarity to it (see `gradvac`).

    Args:
        mode: `"parameters"` (default) or `"representation"`.
        beta: EMA rate of the target similarities, in `[0, 1]` (paper: 1e-2).
        seed: Optional int seed of the random task orders.

    Example:

    >>> import mtl_keras as mtl
    >>> mtl.weighting.GradVac(beta=0.01).get_config()["beta"]
    0.01
    """

    def __init__(self, mode: str = "parameters", beta: float = 0.01,
                 seed: int | None = None, **kwargs):
        super().__init__(mode=mode, **kwargs)
        self.beta = check_number(beta, "beta", min_value=0, max_value=1)
        self.set_seed(seed)

    def build(self, input_shape=None):
        # The step counter (`set_seed`) is created before, by the base class.
        self.targets = self.add_weight(
            shape=(self.num_tasks, self.num_tasks), initializer="zeros",
            trainable=False, name="targets", aggregation="only_first_replica")

    def combine_gradients(self, grads, present, losses=None):
        direction, weights, targets = gradvac(grads, self.targets.value, present,
                                              self.beta, self.next_seed())
        self.targets.assign(targets)
        return direction, weights

    def get_config(self):
        config = super().get_config()
        config["beta"] = self.beta
        return config
