"""Geometric Loss Strategy (GLS).

Chennupati, Sistu, Yogamani & Rawashdeh, "MultiNet++: Multi-Stream Feature
Aggregation and Geometric Loss Strategy for Multi-Task Learning", CVPR
Workshops 2019.
"""

from __future__ import annotations

import keras
from keras import ops

from mtl_keras._validators import check_number
from mtl_keras.weighting.base import LossWeighting


@keras.saving.register_keras_serializable(package="mtl_keras")
class GeometricLossStrategy(LossWeighting):
    """Optimizes the geometric mean of the task losses (Chennupati et al., CVPRW 2019).

        L = (prod_t L_t) ^ (1 / K)

    over the `K` tasks with labels in the batch. Its gradient is
    `sum_t (L / (K L_t)) grad L_t`, so this strategy uses the weights
    `w_t = L / (K L_t)` (computed from the global losses, no gradient through
    them) on the per-task losses: the total it returns equals `L` and has the
    same gradient, and it splits over `tf.distribute` replicas exactly.

    Args:
        epsilon: Floor on each loss before the logarithm (> 0).

    Raises:
        ValueError: If `epsilon <= 0`.

    Example:

    >>> import mtl_keras as mtl
    >>> w = mtl.weighting.GeometricLossStrategy()
    >>> w.build_for_tasks(["a", "b"])
    >>> total, weights = w.combine([1.0, 4.0], [1.0, 4.0], [1.0, 1.0], True)
    >>> float(total), [float(v) for v in weights]   # sqrt(1 * 4) = 2
    (2.0, [1.0, 0.25])
    """

    def __init__(self, epsilon: float = 1e-8, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = check_number(epsilon, "epsilon", min_value=0, min_exclusive=True)

    def compute_weights(self, global_losses, present, training):
        losses = ops.maximum(ops.cast(ops.convert_to_tensor(global_losses), "float32"),
                             self.epsilon)
        present = ops.cast(ops.convert_to_tensor(present), "float32")
        k = ops.maximum(ops.sum(present), 1.0)
        geometric_mean = ops.exp(ops.sum(present * ops.log(losses)) / k)
        return present * geometric_mean / (k * losses)

    def get_config(self):
        config = super().get_config()
        config["epsilon"] = self.epsilon
        return config

