"""Hard parameter sharing: one backbone shared by every task, one head per task.

Caruana, "Multitask Learning", Machine Learning 28, 1997.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import keras

from mtl_keras.model import MultiTaskModel
from mtl_keras.tasks import Task, validate_tasks


def normalize_inputs(inputs: Any):
    """Validates builder inputs: a `keras.Input`, a list or a dict of them."""
    def is_input(t):
        return isinstance(t, keras.KerasTensor)

    if is_input(inputs):
        return inputs
    if isinstance(inputs, dict) and inputs and all(is_input(v) for v in inputs.values()):
        return dict(inputs)
    if isinstance(inputs, (list, tuple)) and inputs and all(is_input(v) for v in inputs):
        return list(inputs)
    raise TypeError(
        "Expected inputs to be a `keras.Input`, or a non-empty dict or list of "
        f"`keras.Input`. Received: {inputs!r}"
    )


def apply_preprocessing(inputs, preprocessing: Mapping[str, keras.layers.Layer] | None):
    """Applies per-input preprocessing layers (e.g. an adapted `Normalization`)."""
    if not preprocessing:
        return inputs
    if not isinstance(inputs, dict):
        if len(preprocessing) != 1:
            raise ValueError(
                "Expected one preprocessing layer for a single input. Received "
                f"layers for {sorted(preprocessing)}"
            )
        return next(iter(preprocessing.values()))(inputs)
    unknown = sorted(set(preprocessing) - set(inputs))
    if unknown:
        raise ValueError(
            f"Preprocessing names inputs that do not exist: {unknown}. "
            f"Expected names among {sorted(inputs)}."
        )
    return {k: (preprocessing[k](v) if k in preprocessing else v) for k, v in inputs.items()}


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
    x = apply_preprocessing(inputs, preprocessing)
    if isinstance(x, dict) and len(x) == 1 and isinstance(backbone, keras.Model):
        x = next(iter(x.values()))
    representation = backbone(x)
    if not isinstance(representation, keras.KerasTensor) or len(representation.shape) != 2:
        raise ValueError(
            "Expected the backbone to output one (batch, features) tensor. Received: "
            f"{representation!r}. For a keras.applications network pass "
            "include_top=False, pooling='avg'."
        )
    trunk = keras.Model(inputs, representation, name="trunk")
    return MultiTaskModel(trunk, tasks, name=name)
