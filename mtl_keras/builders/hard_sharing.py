"""Hard parameter sharing: one backbone shared by every task, one head per task.

Caruana, "Multitask Learning", Machine Learning 28, 1997.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import keras

from mtl_keras.builders._inputs import apply_preprocessing, normalize_inputs, single_input
from mtl_keras.model import MultiTaskModel
from mtl_keras.tasks import Task, validate_tasks

__all__ = ["build_hard_sharing"]


def build_hard_sharing(
    inputs: Any,
    backbone: keras.layers.Layer,
    tasks: Sequence[Task],
    preprocessing: Mapping[str, keras.layers.Layer] | None = None,
    name: str = "hard_sharing",
) -> MultiTaskModel:
    """Builds `inputs -> [preprocessing] -> backbone -> {task: head}`.

    Args:
        inputs: A `keras.Input`, or a dict (or list) of named `keras.Input`.
        backbone: Layer or model mapping the inputs to a `(batch, features)`
            representation, e.g. `mtl_keras.backbones.mlp([64, 64])`.
        tasks: The `mtl_keras.Task` list; each gets a head named after it.
        preprocessing: Optional `{input_name: layer}` applied to those inputs
            before the backbone (and saved with the model), e.g. an adapted
            `keras.layers.Normalization`.
        name: Model name.

    Returns:
        A `MultiTaskModel` whose outputs are a dict keyed by task name.

    Example:

    >>> import keras, mtl_keras as mtl
    >>> tasks = [mtl.Task("species", "multiclass", num_classes=3),
    ...          mtl.Task("body_mass", "regression")]
    >>> model = mtl.build_hard_sharing(
    ...     {"x": keras.Input((4,), name="x")}, mtl.backbones.mlp([16]), tasks)
    >>> sorted(model.task_names)
    ['body_mass', 'species']
    """
    tasks = validate_tasks(tasks)
    inputs = normalize_inputs(inputs)
    if not isinstance(backbone, keras.layers.Layer):
        raise TypeError(
            "Expected backbone to be a Keras layer or model (see mtl_keras.backbones). "
            f"Received: {backbone!r}"
        )
    x = single_input(apply_preprocessing(inputs, preprocessing), backbone)
    representation = backbone(x)
    if not isinstance(representation, keras.KerasTensor) or len(representation.shape) != 2:
        raise ValueError(
            "Expected the backbone to output one (batch, features) tensor. Received: "
            f"{representation!r}. For a keras.applications network pass "
            "include_top=False, pooling='avg'."
        )
    trunk = keras.Model(inputs, representation, name="trunk")
    return MultiTaskModel(trunk, tasks, name=name)
