"""CGC and PLE: task-specific and shared experts, extracted progressively.

Tang, Liu, Zhao & Gong, "Progressive Layered Extraction (PLE): A Novel
Multi-Task Learning (MTL) Model for Personalized Recommendations", RecSys 2020.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import keras

from mtl_keras._validators import check_int
from mtl_keras.builders._inputs import apply_preprocessing, merge_inputs, normalize_inputs
from mtl_keras.layers.cgc import CGC
from mtl_keras.model import MultiTaskModel
from mtl_keras.tasks import Task, validate_tasks

__all__ = ["build_ple"]


def build_ple(
    inputs: Any,
    tasks: Sequence[Task],
    num_levels: int = 2,
    num_task_experts: int = 1,
    num_shared_experts: int = 1,
    expert_units: Sequence[int] = (32,),
    expert_activation: str = "relu",
    preprocessing: Mapping[str, keras.layers.Layer] | None = None,
    name: str = "ple",
) -> MultiTaskModel:
    """Builds `inputs -> [preprocessing] -> CGC level x num_levels -> {task: head}`.

    Level `l` is a `CGC` layer named `ple_level_<l>`. Every level but the last
    also outputs a shared representation (its shared gate mixes all experts),
    which feeds the next level's shared experts, while task `k`'s output feeds
    its own experts and gate. `num_levels=1` is the single-level CGC model.

    Args:
        inputs: A `keras.Input`, or a dict (or list) of named `keras.Input`
            (concatenated, in sorted key order).
        tasks: The `mtl_keras.Task` list.
        num_levels: Number of extraction levels (>= 1).
        num_task_experts: Experts per task per level (>= 1).
        num_shared_experts: Shared experts per level (>= 1).
        expert_units: Widths of each expert MLP.
        expert_activation: Activation of the expert layers.
        preprocessing: Optional `{input_name: layer}` applied first.
        name: Model name.

    Returns:
        A `MultiTaskModel` whose trunk outputs `{task: representation}`.

    Raises:
        ValueError: `num_levels < 1` or fewer than one expert of either kind.

    Example:

    >>> import keras, mtl_keras as mtl
    >>> tasks = [mtl.Task("a", "binary"), mtl.Task("b", "regression")]
    >>> model = mtl.build_ple(keras.Input((4,)), tasks, num_levels=2, expert_units=(8,))
    >>> [l.name for l in model.trunk.layers if l.name.startswith("ple_")]
    ['ple_level_0', 'ple_level_1']
    """
    tasks = validate_tasks(tasks)
    names = [t.name for t in tasks]
    num_levels = check_int(num_levels, "num_levels", min_value=1)
    inputs = normalize_inputs(inputs)
    x = merge_inputs(apply_preprocessing(inputs, preprocessing))
    for level in range(num_levels):
        last = level == num_levels - 1
        x = CGC(names, num_task_experts=num_task_experts,
                num_shared_experts=num_shared_experts, expert_units=expert_units,
                expert_activation=expert_activation, output_shared=not last,
                name=f"ple_level_{level}")(x)
    trunk = keras.Model(inputs, dict(zip(names, x)), name="trunk")
    return MultiTaskModel(trunk, tasks, name=name)
