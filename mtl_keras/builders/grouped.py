"""Grouped sharing: one shared backbone per group of tasks, no sharing between groups.

The architecture that task-grouping methods recommend: Standley et al.,
"Which Tasks Should Be Learned Together in Multi-task Learning?", ICML
2020; Fifty et al., "Efficiently Identifying Task Groupings for Multi-Task
Learning", NeurIPS 2021. See `mtl_keras.affinity` for choosing the groups.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import keras

from mtl_keras import backbones
from mtl_keras.affinity.grouping import Grouping, check_partition
from mtl_keras.builders._inputs import apply_preprocessing, normalize_inputs, single_input
from mtl_keras.model import MultiTaskModel
from mtl_keras.tasks import Task, validate_tasks

__all__ = ["build_grouped"]


def build_grouped(
    inputs: Any,
    backbone: keras.layers.Layer,
    tasks: Sequence[Task],
    groups: Sequence[Sequence[str]] | Grouping,
    preprocessing: Mapping[str, keras.layers.Layer] | None = None,
    name: str = "grouped",
) -> MultiTaskModel:
    """Builds `inputs -> [preprocessing] -> {group: backbone copy} -> {task: head}`.

    Each group gets its own copy of `backbone` (same structure, independent
    initialization), named `group_<k>` for the `k`-th group (from 0, in the
    order given); the tasks of a group share it, tasks of different groups
    share nothing. The trunk outputs `{task: its group's representation}`,
    so the model trains, saves and exports like any `MultiTaskModel` (and
    `task_model(t)` computes only the backbone of `t`'s group). One group of
    every task is hard sharing; one group per task, independent single-task
    networks trained in one model.

    Args:
        inputs: A `keras.Input`, or a dict (or list) of named `keras.Input`.
        backbone: Layer or model mapping the inputs to a `(batch, features)`
            representation (e.g. `mtl_keras.backbones.mlp([64, 64])`),
            cloned once per group.
        tasks: The `mtl_keras.Task` list; each gets a head named after it.
        groups: A partition of the task names, e.g. `[["a", "b"], ["c"]]`,
            or a `mtl_keras.affinity.Grouping`.
        preprocessing: Optional `{input_name: layer}` applied to those inputs
            before the backbones (and saved with the model).
        name: Model name.

    Returns:
        A `MultiTaskModel` whose trunk outputs `{task: representation}`.

    Raises:
        ValueError: Groups that are not a partition of the task names (an
            unknown name, a task in no group or in two, an empty group), or a
            backbone that does not output `(batch, features)`.
        TypeError: For a backbone that is not a Keras layer.

    Example:

    >>> import keras, mtl_keras as mtl
    >>> tasks = [mtl.Task("a", "binary"), mtl.Task("b", "regression"),
    ...          mtl.Task("c", "regression")]
    >>> model = mtl.build_grouped(keras.Input((4,)), mtl.backbones.mlp([8]), tasks,
    ...                           groups=[["a", "c"], ["b"]])
    >>> [layer.name for layer in model.trunk.layers if layer.name.startswith("group_")]
    ['group_0', 'group_1']
    """
    tasks = validate_tasks(tasks)
    names = [t.name for t in tasks]
    if isinstance(groups, Grouping):
        groups = groups.groups
    index = check_partition(groups, names)
    inputs = normalize_inputs(inputs)
    if not isinstance(backbone, keras.layers.Layer):
        raise TypeError(
            "Expected backbone to be a Keras layer or model (see mtl_keras.backbones). "
            f"Received: {backbone!r}")
    x = single_input(apply_preprocessing(inputs, preprocessing), backbone)
    reps = {}
    for k, members in enumerate(index):
        representation = backbones.clone(backbone, f"group_{k}")(x)
        if not isinstance(representation, keras.KerasTensor) or len(representation.shape) != 2:
            raise ValueError(
                "Expected the backbone to output one (batch, features) tensor. Received: "
                f"{representation!r}. For a keras.applications network pass "
                "include_top=False, pooling='avg'.")
        for i in members:
            reps[names[i]] = representation
    trunk = keras.Model(inputs, {n: reps[n] for n in names}, name="trunk")
    return MultiTaskModel(trunk, tasks, name=name)
