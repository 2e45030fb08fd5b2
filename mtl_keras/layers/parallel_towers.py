"""`ParallelTowers`: one tower per task, optionally coupled by a soft-sharing penalty."""

from __future__ import annotations

from typing import Any, Sequence

import keras

from mtl_keras import regularizers
from mtl_keras.layers.penalty_layer import PenaltyLayer


@keras.saving.register_keras_serializable(package="mtl_keras")
class ParallelTowers(PenaltyLayer):
    """Parallel per-task towers that read the same inputs (soft parameter sharing).

    Calling the layer with `task=name` runs only that task's tower, so a
    functional model can give each task its own graph node (and
    `MultiTaskModel.task_model` computes one tower only); `task=None` returns
    the dict `{task: tower_output}`.

    With a `coupling` (`mtl_keras.regularizers.L2Coupling`,
    `TraceNormCoupling`), the penalty on corresponding tower weights is
    computed by `penalty()`: `MultiTaskModel` adds it to the loss in training and
    evaluation and logs it as `soft_sharing_loss`; `layer.losses` and
    `model.losses` include it, like a Keras weight regularizer. It is not
    part of the inference graph, so exported models do not contain it.

    Args:
        towers: One Keras layer (or model) per task, in `task_names` order.
            With a coupling they must have identical structure.
        task_names: The task of each tower.
        coupling: `None`, `"l2"`, `"trace_norm"` or a
            `mtl_keras.regularizers.TowerCoupling`.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`).

    Raises:
        ValueError: A number of towers different from the number of task
            names, duplicate task names, or (at build time) towers the
            coupling cannot pair up.

    Example:

    >>> import numpy as np, mtl_keras as mtl
    >>> towers = ParallelTowers(
    ...     [mtl.layers.MLP((8,), name="tower_a"), mtl.layers.MLP((8,), name="tower_b")],
    ...     task_names=["a", "b"], coupling=mtl.regularizers.L2Coupling(0.1))
    >>> out = towers(np.zeros((2, 4), "float32"))
    >>> sorted(out), tuple(out["a"].shape)
    (['a', 'b'], (2, 8))
    >>> len(towers.losses)
    1
    """

    @property
    def penalty_log_name(self) -> str | None:
        """History key under which `MultiTaskModel` logs `penalty()` (None: no coupling)."""
        return None if self.coupling is None else "soft_sharing_loss"

    def __init__(
        self,
        towers: Sequence[keras.layers.Layer],
        task_names: Sequence[str],
        coupling: Any = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        towers = list(towers)
        task_names = [str(n) for n in task_names]
        if not towers or not all(isinstance(t, keras.layers.Layer) for t in towers):
            raise TypeError(
                f"Expected towers to be a non-empty list of Keras layers. Received: {towers!r}"
            )
        if len(towers) != len(task_names) or len(set(task_names)) != len(task_names):
            raise ValueError(
                "Expected one tower per (distinct) task name. Received: "
                f"{len(towers)} towers for task_names={task_names}"
            )
        self.towers = towers
        self.task_names = task_names
        self.coupling = regularizers.get(coupling)
        self._groups: list[int] = []

    def build(self, input_shape):
        spec = keras.tree.map_shape_structure(lambda s: keras.KerasTensor(s), input_shape)
        for tower in self.towers:
            if not tower.built or not tower.weights:
                tower(spec)
        if self.coupling is not None:
            self._groups = self.coupling.resolve_groups(self.towers)

    def call(self, inputs, task: str | None = None, training=None):
        if task is None:
            return {n: t(inputs, training=training) for n, t in zip(self.task_names, self.towers)}
        if task not in self.task_names:
            raise ValueError(
                f"Expected task to be one of {self.task_names}. Received: task={task!r}"
            )
        return self.towers[self.task_names.index(task)](inputs, training=training)

    # ------------------------------------------------------------- penalty
    def coupled_groups(self) -> list[list[keras.Variable]]:
        """The coupled weights: one list per group, one variable per tower."""
        return [[t.trainable_weights[i] for t in self.towers] for i in self._groups]

    def penalty(self):
        """The coupling penalty of the current weights (a scalar), or `None`.

        `None` when there is no coupling or its strength is 0: then no term
        is added and the towers train exactly as independent networks.
        """
        if self.coupling is None or self.coupling.strength == 0 or not self._groups:
            return None
        return self.coupling(self.coupled_groups())

    def tower(self, task: str) -> keras.layers.Layer:
        """The tower of `task`."""
        if task not in self.task_names:
            raise ValueError(f"Expected task to be one of {self.task_names}. Received: {task!r}")
        return self.towers[self.task_names.index(task)]

    def get_config(self):
        config = super().get_config()
        config.update({
            "towers": [keras.saving.serialize_keras_object(t) for t in self.towers],
            "task_names": list(self.task_names),
            "coupling": regularizers.serialize(self.coupling),
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["towers"] = [keras.saving.deserialize_keras_object(t) for t in config["towers"]]
        if config.get("coupling") is not None:
            config["coupling"] = keras.saving.deserialize_keras_object(config["coupling"])
        return cls(**config)


__all__ = [
    "ParallelTowers",
]
