"""Soft parameter sharing: one tower per task, coupled by a penalty on their weights.

Duong et al., ACL 2015 (L2 distance); Yang & Hospedales, ICLR 2017 workshop
(trace norm). See `mtl_keras.regularizers`.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import keras

from mtl_keras import backbones
from mtl_keras.builders._inputs import apply_preprocessing, normalize_inputs, single_input
from mtl_keras.layers.parallel_towers import ParallelTowers
from mtl_keras.model import MultiTaskModel
from mtl_keras.tasks import Task, validate_tasks

__all__ = ["build_soft_sharing"]


def build_soft_sharing(
    inputs: Any,
    backbone: keras.layers.Layer | Mapping[str, keras.layers.Layer],
    tasks: Sequence[Task],
    coupling: Any = "l2",
    preprocessing: Mapping[str, keras.layers.Layer] | None = None,
    name: str = "soft_sharing",
) -> MultiTaskModel:
    """Builds `inputs -> [preprocessing] -> {task: tower_task -> head_task}`.

    Each task gets its own tower, a fresh copy of `backbone` named
    `tower_<task>` (identical structure, independent initialization); the
    towers are held by one `mtl_keras.layers.ParallelTowers` layer named
    `towers`, and coupled by `coupling`, whose penalty is added to the
    optimized loss and logged as `soft_sharing_loss`.

    Args:
        inputs: A `keras.Input`, or a dict (or list) of named `keras.Input`.
        backbone: The tower: a layer or model mapping the inputs to
            `(batch, features)` (e.g. `mtl_keras.backbones.mlp([32])`), cloned
            once per task; or a dict `{task: layer}` of ready-made towers.
        tasks: The `mtl_keras.Task` list; each gets a tower and a head.
        coupling: `"l2"` (`L2Coupling`, strength 0.01), `"trace_norm"`
            (`TraceNormCoupling`, strength 0.01), a
            `mtl_keras.regularizers.TowerCoupling`, or `None` (independent
            towers).
        preprocessing: Optional `{input_name: layer}` applied before the towers.
        name: Model name.

    Returns:
        A `MultiTaskModel` whose trunk outputs `{task: representation}`.

    Raises:
        ValueError: Fewer than two tasks with a coupling, towers for the
            wrong tasks, towers the coupling cannot pair up (different
            structure, an unknown layer name), or a negative strength.
        TypeError: For a backbone that is not a Keras layer.

    Example:

    >>> import keras, mtl_keras as mtl
    >>> tasks = [mtl.Task("a", "binary"), mtl.Task("b", "regression")]
    >>> model = mtl.build_soft_sharing(
    ...     keras.Input((4,)), mtl.backbones.mlp([8]), tasks,
    ...     coupling=mtl.regularizers.TraceNormCoupling(strength=0.1))
    >>> [t.name for t in model.trunk.get_layer("towers").towers]
    ['tower_a', 'tower_b']
    """
    tasks = validate_tasks(tasks)
    names = [t.name for t in tasks]
    inputs = normalize_inputs(inputs)
    if isinstance(backbone, Mapping):
        if sorted(backbone) != sorted(names):
            raise ValueError(
                f"Expected one tower per task {names}. Received towers for {sorted(backbone)}"
            )
        towers = [backbone[n] for n in names]
    else:
        towers = [backbone] * len(names)
    for tower in towers:
        if not isinstance(tower, keras.layers.Layer):
            raise TypeError(
                "Expected backbone to be a Keras layer or model (see mtl_keras.backbones), "
                f"or a dict of them. Received: {tower!r}"
            )
    if not isinstance(backbone, Mapping):
        towers = [backbones.clone(backbone, f"tower_{n}") for n in names]
    layer = ParallelTowers(towers, names, coupling=coupling, name="towers")
    x = single_input(apply_preprocessing(inputs, preprocessing), towers[0])
    reps = {n: layer(x, task=n) for n in names}
    for n, rep in reps.items():
        if len(rep.shape) != 2:
            raise ValueError(
                f"Expected each tower to output one (batch, features) tensor. Received: "
                f"{rep!r} from the tower of task {n!r}"
            )
    trunk = keras.Model(inputs, reps, name="trunk")
    return MultiTaskModel(trunk, tasks, name=name)
