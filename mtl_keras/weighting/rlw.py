"""Random Loss Weighting (RLW).

Lin, Ye, Zhang & Tsang, "Reasonable Effectiveness of Random Weighting: A
Litmus Test for Multi-Task Learning", TMLR 2022.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from mtl_keras._validators import check_choice
from mtl_keras.weighting.base import LossWeighting

DISTRIBUTIONS = ("normal", "uniform")


@keras.saving.register_keras_serializable(package="mtl_keras")
class RandomLossWeighting(LossWeighting):
    """Draws fresh random weights at every training step (Lin et al., TMLR 2022).

        lambda~ ~ p(lambda~)   (standard normal, or uniform on [0, 1))
        w = softmax(lambda~)   (over the tasks with labels in the batch)
        L = sum_t w_t L_t

    The draw is a stateless function of `(seed, step)` (`current_seed()`,
    from 0), where `step` is the step counter the base class keeps: every
    replica draws the same weights, and a run resumed from a checkpoint draws
    the same sequence as an uninterrupted one. In `evaluate` the weights are their expectation,
    `1 / K` for each of the `K` tasks with labels.

    Args:
        distribution: `"normal"` or `"uniform"`.
        seed: Integer seed of the draws (None: a random one, not saved).

    Raises:
        ValueError: For an unknown distribution or a seed that is not an int.

    Example:

    >>> import mtl_keras as mtl
    >>> w = mtl.weighting.RandomLossWeighting(seed=1)
    >>> w.build_for_tasks(["a", "b", "c"])
    >>> round(float(sum(w.compute_weights([1.0] * 3, [1.0] * 3, True))), 4)
    1.0
    """

    def __init__(self, distribution: str = "normal", seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.distribution = check_choice(distribution, "distribution", DISTRIBUTIONS)
        self.set_seed(seed)

    def compute_weights(self, global_losses, present, training):
        present = ops.cast(ops.convert_to_tensor(present), "float32")
        if not training:
            return present / ops.maximum(ops.sum(present), 1.0)
        seed = self.current_seed()
        self.step.assign_add(1)
        shape = (self.num_tasks,)
        if self.distribution == "normal":
            logits = tf.random.stateless_normal(shape, seed=seed)
        else:
            logits = tf.random.stateless_uniform(shape, seed=seed)
        # Softmax over the tasks present in the batch.
        logits = ops.where(present > 0, logits, -1e9)
        return ops.softmax(logits) * present

    def get_config(self):
        config = super().get_config()
        config["distribution"] = self.distribution
        return config
