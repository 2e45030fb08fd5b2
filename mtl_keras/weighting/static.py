"""Static (fixed) loss weights, the baseline every other method is compared to."""

from __future__ import annotations

from typing import Mapping

import keras
from keras import ops

from mtl_keras.tasks import validate_weight
from mtl_keras.weighting.base import LossWeighting


@keras.saving.register_keras_serializable(package="mtl_keras")
class StaticWeighting(LossWeighting):
    """Fixed weights: `L = sum_t w_t L_t`.

    Args:
        weights: Optional `{task_name: weight}`. Tasks not named keep the
            weight of their `Task` (1.0 unless set). Weights must be finite
            and >= 0. `weights=None` with default tasks is equal weighting.

    Example:

    >>> import mtl_keras as mtl
    >>> w = mtl.weighting.StaticWeighting({"a": 2.0})
    >>> w.build_for_tasks(["a", "b"])
    >>> [float(v) for v in w.compute_weights(None, None, True)]
    [2.0, 1.0]
    """

    def __init__(self, weights: Mapping[str, float] | None = None, **kwargs):
        super().__init__(**kwargs)
        if weights is not None and not isinstance(weights, Mapping):
            raise TypeError(
                "Expected weights to be a dict {task_name: weight}. "
                f"Received: weights={weights!r}"
            )
        self.weights_by_task = {
            str(k): validate_weight(v, f"the weight of task {k!r}")
            for k, v in (weights or {}).items()
        }

    def build(self, input_shape=None):
        unknown = sorted(set(self.weights_by_task) - set(self.task_names))
        if unknown:
            raise ValueError(
                f"Static weights name tasks that do not exist: {unknown}. "
                f"Expected names among {list(self.task_names)}."
            )

    @property
    def task_weights(self) -> list[float]:
        """Each task's weight: from `weights`, else its `Task.weight`."""
        return [self.weights_by_task.get(t.name, t.weight) for t in self.tasks]

    def compute_weights(self, global_losses, present, training):
        return ops.convert_to_tensor(self.task_weights, "float32")

    def get_config(self):
        config = super().get_config()
        config["weights"] = dict(self.weights_by_task) or None
        return config
