"""DB-MTL's loss-scale balancing: a logarithm on each task loss.

Lin, Jiang, Ye, Zhang, Chen, Chen, Liu & Kwok, "Dual-Balancing for
Multi-Task Learning", arXiv:2308.12029, 2023.
"""

from __future__ import annotations

import keras
from keras import ops

from mtl_keras._validators import check_number
from mtl_keras.weighting.base import LossWeighting


@keras.saving.register_keras_serializable(package="mtl_keras")
class DualBalancingLossScale(LossWeighting):
    """The loss-scale half of DB-MTL (Lin et al., 2023).

    DB-MTL balances loss scales by optimizing the log of each task loss:

        L = sum_t log(L_t + epsilon),   grad L = sum_t grad L_t / (L_t + epsilon)

    so a task's gradient is divided by its current loss. This strategy uses
    the weights `w_t = 1 / (L_t + epsilon)` (from the global losses, no
    gradient through them) on the per-task losses: same gradient as the log
    objective, and exact under `tf.distribute`. The logged `loss` is therefore
    `sum_t L_t / (L_t + epsilon)` (about the number of tasks), not the sum of
    logs. The gradient-magnitude half of DB-MTL (EMA of per-task gradients
    rescaled to the largest norm) is a gradient-combination method, outside
    this class. The loss-scale part keeps no state.

    Args:
        epsilon: Added to each loss before the logarithm (> 0; 1e-8 in the
            paper's code).

    Raises:
        ValueError: If `epsilon <= 0`.

    Example:

    >>> import mtl_keras as mtl
    >>> w = mtl.weighting.DualBalancingLossScale(epsilon=1e-8)
    >>> w.build_for_tasks(["a", "b"])
    >>> [round(float(v), 4) for v in w.compute_weights([0.5, 4.0], [1.0, 1.0], True)]
    [2.0, 0.25]
    """

    def __init__(self, epsilon: float = 1e-8, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = check_number(epsilon, "epsilon", min_value=0, min_exclusive=True)

    def compute_weights(self, global_losses, present, training):
        losses = ops.cast(ops.convert_to_tensor(global_losses), "float32")
        return ops.cast(ops.convert_to_tensor(present), "float32") / (
            ops.maximum(losses, 0.0) + self.epsilon
        )

    def get_config(self):
        config = super().get_config()
        config["epsilon"] = self.epsilon
        return config
