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
        self._defaults: dict[str, float] = {}

    def set_task_defaults(self, defaults: Mapping[str, float]) -> None:
        """Weights to use for tasks not named in `weights` (from `Task.weight`)."""
        self._defaults = dict(defaults)

    def build_for_tasks(self, task_names):
        unknown = sorted(set(self.weights_by_task) - set(task_names))
        if unknown:
            raise ValueError(
                f"Static weights name tasks that do not exist: {unknown}. "
                f"Expected names among {list(task_names)}."
            )
        super().build_for_tasks(task_names)

    @property
    def task_weights(self) -> list[float]:
        return [
            self.weights_by_task.get(n, self._defaults.get(n, 1.0)) for n in self.task_names
        ]

    def compute_weights(self, global_losses, present, training):
        return ops.convert_to_tensor(self.task_weights, "float32")

    def get_config(self):
        config = super().get_config()
        config["weights"] = dict(self.weights_by_task) or None
        return config
