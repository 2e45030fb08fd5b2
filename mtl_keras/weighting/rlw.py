"""Random Loss Weighting (RLW).

Lin, Ye, Zhang & Tsang, "Reasonable Effectiveness of Random Weighting: A
Litmus Test for Multi-Task Learning", TMLR 2022.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from mtl_keras.weighting.base import LossWeighting

DISTRIBUTIONS = ("normal", "uniform")


@keras.saving.register_keras_serializable(package="mtl_keras")
class RandomLossWeighting(LossWeighting):
    """Draws fresh random weights at every training step (Lin et al., TMLR 2022).

        lambda~ ~ p(lambda~)   (standard normal, or uniform on [0, 1))
        w = softmax(lambda~)   (over the tasks with labels in the batch)
        L = sum_t w_t L_t

    The draw is a stateless function of `(seed, step)`, where `step` is a
    counter variable of this layer: every replica draws the same weights, and
    a run resumed from a checkpoint draws the same sequence as an
    uninterrupted one. In `evaluate` the weights are their expectation,
    `1 / K` for each of the `K` tasks with labels.

    Args:
        distribution: `"normal"` or `"uniform"`.
        seed: Integer seed of the draws.

    Raises:
        ValueError: For an unknown distribution.

    Example:

    >>> import mtl_keras as mtl
    >>> w = mtl.weighting.RandomLossWeighting(seed=1)
    >>> w.build_for_tasks(["a", "b", "c"])
    >>> round(float(sum(w.compute_weights([1.0] * 3, [1.0] * 3, True))), 4)
    1.0
    """

    def __init__(self, distribution: str = "normal", seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if distribution not in DISTRIBUTIONS:
            raise ValueError(
                f"Expected distribution to be one of {list(DISTRIBUTIONS)}. "
                f"Received: distribution={distribution!r}"
            )
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f"Expected seed to be an int. Received: seed={seed!r}")
        self.distribution = distribution
        self.seed = seed

    def build(self, input_shape=None):
        self.step = self.add_weight(
            shape=(), initializer="zeros", trainable=False, dtype="int64",
            aggregation="only_first_replica", name="step",
        )

    def compute_weights(self, global_losses, present, training):
        present = ops.cast(ops.convert_to_tensor(present), "float32")
        if not training:
            return present / ops.maximum(ops.sum(present), 1.0)
        seed = tf.stack([tf.constant(self.seed, "int64"), self.step.value])
        shape = (self.num_tasks,)
        if self.distribution == "normal":
            logits = tf.random.stateless_normal(shape, seed=seed)
        else:
            logits = tf.random.stateless_uniform(shape, seed=seed)
        self.step.assign_add(1)
        # Softmax over the tasks present in the batch.
        logits = ops.where(present > 0, logits, -1e9)
        return ops.softmax(logits) * present

    def get_config(self):
        config = super().get_config()
        config.update({"distribution": self.distribution, "seed": self.seed})
        return config
