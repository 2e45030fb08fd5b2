"""Cross-stitch networks: parallel towers mixed by learned cross-stitch units.

Misra, Shrivastava, Gupta & Hebert, "Cross-stitch Networks for Multi-task
Learning", CVPR 2016.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import keras

from mtl_keras import backbones
from mtl_keras.builders._inputs import apply_preprocessing, normalize_inputs, single_input
from mtl_keras.layers.cross_stitch import CrossStitch
from mtl_keras.model import MultiTaskModel
from mtl_keras.tasks import Task, validate_tasks

__all__ = ["build_cross_stitch"]


def build_cross_stitch(
    inputs: Any,
    stages: keras.layers.Layer | Sequence[keras.layers.Layer],
    tasks: Sequence[Task],
    self_weight: float = 0.9,
    preprocessing: Mapping[str, keras.layers.Layer] | None = None,
    name: str = "cross_stitch",
) -> MultiTaskModel:
    """Builds parallel towers with a `CrossStitch` unit after every stage.

    Each stage is cloned once per task as `tower_<task>_<stage>`; after stage
    `s` the unit `cross_stitch_<s>` mixes the towers' activations, and the
    next stage of each tower reads its own mixed activation. The last unit's
    outputs feed the heads.

    Args:
        inputs: A `keras.Input`, or a dict (or list) of named `keras.Input`.
        stages: One layer or a list of layers (e.g.
            `[mtl.backbones.mlp([32]), mtl.backbones.mlp([32])]`); stage `s+1`
            must accept stage `s`'s output. The last stage outputs
            `(batch, features)`.
        tasks: The `mtl_keras.Task` list (at least two).
        self_weight: Initial diagonal of every unit's mixing matrix; 1.0
            starts from independent towers. See `CrossStitch`.
        preprocessing: Optional `{input_name: layer}` applied before the towers.
        name: Model name.

    Returns:
        A `MultiTaskModel` whose trunk outputs `{task: representation}`.

    Raises:
        ValueError: Fewer than two tasks, no stages, or a last stage that
            does not output `(batch, features)`.
        TypeError: For a stage that is not a Keras layer.

    Example:

    >>> import keras, mtl_keras as mtl
    >>> tasks = [mtl.Task("a", "binary"), mtl.Task("b", "regression")]
    >>> model = mtl.build_cross_stitch(
    ...     keras.Input((4,)), [mtl.backbones.mlp([8]), mtl.backbones.mlp([8])], tasks)
    >>> tuple(model.trunk.get_layer("cross_stitch_1").alpha.shape)
    (2, 2)
    """
    tasks = validate_tasks(tasks)
    names = [t.name for t in tasks]
    if len(names) < 2:
        raise ValueError(
            f"Expected at least two tasks for cross-stitch units. Received: {names}"
        )
    inputs = normalize_inputs(inputs)
    stages = [stages] if isinstance(stages, keras.layers.Layer) else list(stages)
    if not stages:
        raise ValueError("Expected at least one stage. Received: stages=[]")
    for stage in stages:
        if not isinstance(stage, keras.layers.Layer):
            raise TypeError(f"Expected every stage to be a Keras layer. Received: {stage!r}")
    x = single_input(apply_preprocessing(inputs, preprocessing), stages[0])
    acts = [x] * len(names)
    for s, stage in enumerate(stages):
        acts = [backbones.clone(stage, f"tower_{n}_{s}")(a) for n, a in zip(names, acts)]
        acts = CrossStitch(self_weight, name=f"cross_stitch_{s}")(acts)
    if len(acts[0].shape) != 2:
        raise ValueError(
            "Expected the last stage to output one (batch, features) tensor. Received: "
            f"{acts[0]!r}"
        )
    trunk = keras.Model(inputs, dict(zip(names, acts)), name="trunk")
    return MultiTaskModel(trunk, tasks, name=name)
