"""MMoE: shared experts mixed by one softmax gate per task.

Ma, Zhao, Yi, Chen, Hong & Chi, "Modeling Task Relationships in Multi-task
Learning with Multi-gate Mixture-of-Experts", KDD 2018.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import keras

from mtl_keras.builders._inputs import apply_preprocessing, merge_inputs, normalize_inputs
from mtl_keras.layers.mmoe import MMoE
from mtl_keras.model import MultiTaskModel
from mtl_keras.tasks import Task, validate_tasks

__all__ = ["build_mmoe"]


def build_mmoe(
    inputs: Any,
    tasks: Sequence[Task],
    num_experts: int = 4,
    expert_units: Sequence[int] = (32,),
    expert_activation: str = "relu",
    top_k: int | None = None,
    preprocessing: Mapping[str, keras.layers.Layer] | None = None,
    name: str = "mmoe",
) -> MultiTaskModel:
    """Builds `inputs -> [preprocessing] -> MMoE -> {task: head}`.

    Args:
        inputs: A `keras.Input`, or a dict (or list) of named `keras.Input`
            (concatenated, in sorted key order, into the experts' input).
        tasks: The `mtl_keras.Task` list; each gets a gate and a head.
        num_experts: Number of shared experts (>= 1).
        expert_units: Widths of each expert MLP (the last is the
            representation size).
        expert_activation: Activation of the expert layers.
        top_k: Optional: each gate keeps only its `top_k` largest logits
            (1..num_experts).
        preprocessing: Optional `{input_name: layer}` applied first.
        name: Model name.

    Returns:
        A `MultiTaskModel` whose trunk outputs `{task: representation}`; the
        `MMoE` layer is `model.trunk.get_layer("mmoe")`.

    Raises:
        ValueError: Zero experts, or `top_k` larger than `num_experts`.

    Example:

    >>> import keras, mtl_keras as mtl
    >>> tasks = [mtl.Task("a", "binary"), mtl.Task("b", "regression")]
    >>> model = mtl.build_mmoe(keras.Input((4,)), tasks, num_experts=3, expert_units=(8,))
    >>> len(model.trunk.get_layer("mmoe").experts)
    3
    """
    tasks = validate_tasks(tasks)
    names = [t.name for t in tasks]
    inputs = normalize_inputs(inputs)
    layer = MMoE(names, num_experts=num_experts, expert_units=expert_units,
                 expert_activation=expert_activation, top_k=top_k, name="mmoe")
    x = merge_inputs(apply_preprocessing(inputs, preprocessing))
    reps = layer(x)
    trunk = keras.Model(inputs, dict(zip(names, reps)), name="trunk")
    return MultiTaskModel(trunk, tasks, name=name)
