"""GradNorm: gradient normalisation by balancing training rates.

Chen, Badrinarayanan, Lee and Rabinovich, "GradNorm: Gradient Normalization for
Adaptive Loss Balancing in Deep Multitask Networks", ICML 2018.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from mtl_keras._validators import check_number
from mtl_keras.weighting.base import SharedGradientWeighting
from mtl_keras.weighting.gradient_common import as_matrix, as_present, safe_sqrt, weighted_sum


def gradnorm(grads, weights, loss_ratios, present=None, alpha: float = 1.5,
             learning_rate: float = 0.025):
    """One GradNorm step: the weighted direction and the updated weights.

    The direction is `d = sum_i w_i g_i` with the current weights (a
    weighted **sum**). The weights then take one gradient step on
    `L_grad = sum_i |w_i ||g_i|| - mean_j(w_j ||g_j||) r_i^alpha|`, where
    `r_i = L~_i / mean_j L~_j` is the relative inverse training rate
    (`L~_i = L_i(t) / L_i(0)`) and the target is held constant:
    `dL_grad / dw_i = sign(w_i ||g_i|| - target_i) ||g_i||`. They are then
    clipped at 0 and renormalised to sum to the number of present tasks.

    Args:
        grads: `(num_tasks, dim)` per-task gradients.
        weights: `(num_tasks,)` current task weights.
        loss_ratios: `(num_tasks,)` `L_i(t) / L_i(0)`.
        present: Optional `(num_tasks,)` 0/1 mask; absent tasks keep their
            weight and are left out of the direction and of the means.
        alpha: Asymmetry `>= 0` (paper: 0.12 to 3; 1.5 on NYUv2).
        learning_rate: Step size of the weight update.

    Returns:
        `(direction (dim,), weights_used (num_tasks,), new_weights (num_tasks,))`.

    Example:

    >>> d, used, new = gradnorm([[1.0, 0.0], [0.0, 3.0]], [1.0, 1.0], [1.0, 1.0])
    >>> [round(float(v), 3) for v in new]
    [1.051, 0.949]
    """
    grads = as_matrix(grads)
    present = as_present(present, grads)
    weights = tf.convert_to_tensor(weights, tf.float32)
    ratios = tf.convert_to_tensor(loss_ratios, tf.float32)
    n = tf.reduce_sum(present)
    norms = safe_sqrt(tf.reduce_sum(grads * grads, axis=1)) * present
    weighted = weights * norms
    mean_norm = tf.math.divide_no_nan(tf.reduce_sum(weighted * present), n)
    mean_ratio = tf.math.divide_no_nan(tf.reduce_sum(ratios * present), n)
    rel = tf.math.divide_no_nan(ratios, mean_ratio)
    target = mean_norm * tf.pow(tf.maximum(rel, 0.0), alpha)
    step = tf.sign(weighted - target) * norms * present
    new = tf.maximum(weights - learning_rate * step, 0.0)
    total = tf.reduce_sum(new * present)
    renorm = tf.where(total > 0, tf.math.divide_no_nan(n, total), 1.0)
    new = tf.where(present > 0, new * renorm, weights)
    used = weights * present
    return weighted_sum(used, grads), used, new


@keras.saving.register_keras_serializable(package="mtl_keras")
class GradNorm(SharedGradientWeighting):
    """GradNorm (Chen et al., ICML 2018) as a `compile(weighting=...)` strategy.

    Learned task weights (a non-trainable variable updated by the rule in
    `gradnorm`, saved with the model) make the weighted gradient norms
    `w_i ||g_i||` track `mean ||g|| * r_i^alpha`. The paper measures the
    gradient norms at the last shared layer; `mode="representation"` uses
    the shared representation (LibMTL's choice), `"parameters"` all shared
    weights. The initial losses `L_i(0)` are recorded at the first step in
    which each task has labels.

    Args:
        mode: `"parameters"` (default) or `"representation"`.
        alpha: Asymmetry hyperparameter `>= 0`.
        learning_rate: Step size of the weight update (> 0).

    Example:

    >>> import mtl_keras as mtl
    >>> mtl.weighting.GradNorm(alpha=1.0).get_config()["alpha"]
    1.0
    """

    #: The model's `GradientStep` passes the global task losses as `losses=`.
    needs_losses = True

    def __init__(self, mode: str = "parameters", alpha: float = 1.5,
                 learning_rate: float = 0.025, **kwargs):
        super().__init__(mode=mode, **kwargs)
        self.alpha = check_number(alpha, "alpha", min_value=0)
        self.learning_rate = check_number(learning_rate, "learning_rate", min_value=0,
                                          min_exclusive=True)

    def build(self, input_shape=None):
        self.task_weights = self.add_weight(
            shape=(self.num_tasks,), initializer="ones", trainable=False,
            name="task_weights", aggregation="only_first_replica")
        self.initial_losses = self.add_weight(
            shape=(self.num_tasks,), initializer="zeros", trainable=False,
            name="initial_losses", aggregation="only_first_replica")

    def combine_gradients(self, grads, present, losses=None):
        present = tf.cast(present, tf.float32)
        if losses is None:
            losses = tf.ones_like(present)
        losses = tf.cast(losses, tf.float32)
        init = self.initial_losses.value
        init = tf.where(tf.logical_and(init <= 0.0, present > 0), losses, init)
        self.initial_losses.assign(init)
        ratios = tf.math.divide_no_nan(losses, init)
        direction, used, new = gradnorm(grads, self.task_weights.value, ratios, present,
                                        self.alpha, self.learning_rate)
        self.task_weights.assign(new)
        return direction, used

    def get_config(self):
        config = super().get_config()
        config.update(alpha=self.alpha, learning_rate=self.learning_rate)
        return config
