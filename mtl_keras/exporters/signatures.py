"""Serving signatures of a `MultiTaskModel`: one for all tasks, one per task.

`serving_default` returns every main task's output keyed by task name; the
signature named after a task computes only what that task needs (the part of
the trunk that feeds its representation, and its head), through
`MultiTaskModel.task_model`. Inputs keep the model's structure: a dict of
named inputs becomes named signature inputs. Auxiliary tasks
(`Task(..., auxiliary=True)`, trained only to help the others) are exported
only when named in `tasks` (see `task_signatures`).
"""

from __future__ import annotations

from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf

__all__ = [
    "DEFAULT_SIGNATURE",
    "as_feed",
    "check_model",
    "concrete_functions",
    "default_outputs",
    "from_feed",
    "input_names",
    "input_signature",
    "keras_outputs",
    "random_inputs",
    "serving_functions",
    "task_signatures",
]

DEFAULT_SIGNATURE = "serving_default"


def check_model(model: Any) -> None:
    """Raises `TypeError` unless `model` is a built `mtl_keras.MultiTaskModel`."""
    from mtl_keras.model import MultiTaskModel

    if not isinstance(model, MultiTaskModel):
        raise TypeError(
            "Expected a `mtl_keras.MultiTaskModel` (see `mtl_keras.build_hard_sharing`). "
            f"Received: model={model!r} of type {type(model).__name__}"
        )
    reserved = [n for n in model.task_names if n == DEFAULT_SIGNATURE]
    if reserved:
        raise ValueError(
            f"Expected task names other than {DEFAULT_SIGNATURE!r} (it names the "
            f"all-tasks signature). Received: task names {model.task_names}"
        )


def input_signature(model) -> Any:
    """`tf.TensorSpec` structure of the model's inputs, batch dimension `None`.

    A dict of inputs gives a dict of specs named after its keys; a single input
    gives one spec named after the `keras.Input`.
    """
    struct = model.trunk.input

    def spec(t, name):
        shape = (None,) + tuple(t.shape[1:])
        return tf.TensorSpec(shape, keras.backend.standardize_dtype(t.dtype), name=name)

    if isinstance(struct, dict):
        return {k: spec(v, k) for k, v in struct.items()}
    if isinstance(struct, (list, tuple)):
        return [spec(v, v.name) for v in struct]
    return spec(struct, struct.name)


def input_names(model) -> list[str]:
    """Names of the signature inputs, in the model's input order."""
    return [s.name for s in tf.nest.flatten(input_signature(model))]


def task_signatures(model, tasks: list[str] | None = None) -> list[str]:
    """The per-task signatures to export: `tasks`, or by default every main task.

    Raises:
        ValueError: For a name that is not one of the model's tasks.
    """
    if tasks is None:
        return [t.name for t in model.tasks if not t.auxiliary]
    names = list(tasks)
    unknown = [n for n in names if n not in model.task_names]
    if unknown:
        raise ValueError(
            f"Expected task names among {model.task_names}. Received: {unknown}"
        )
    return names


def default_outputs(model, names) -> list[str]:
    """Tasks `serving_default` returns: the main tasks and the tasks among `names`."""
    asked = set(names)
    return [t.name for t in model.tasks if not t.auxiliary or t.name in asked]


def serving_functions(model, tasks: list[str] | None = None) -> dict[str, Callable]:
    """Python functions to trace as signatures: `{signature_name: fn(inputs)}`.

    Args:
        model: A `MultiTaskModel`.
        tasks: Task signatures to include (default: every main task). The
            all-tasks `serving_default` is always first; it returns the main
            tasks and the auxiliary tasks named here.

    Returns:
        Dict of functions, each returning a dict `{task_name: output}`.
    """
    names = task_signatures(model, tasks)
    outputs = default_outputs(model, names)

    def full(inputs):
        predictions = model(inputs, training=False)
        return {name: predictions[name] for name in outputs}

    fns = {DEFAULT_SIGNATURE: full}
    for name in names:
        fns[name] = _task_fn(model.task_model(name), name)
    return fns


def _task_fn(task_model, name):
    def fn(inputs):
        return {name: task_model(inputs, training=False)}

    fn.task_model = task_model
    return fn


def concrete_functions(model, tasks: list[str] | None = None) -> dict[str, Any]:
    """Traced `tf.function`s of `serving_functions`, for graph inspection.

    Example:

    >>> import keras, mtl_keras as mtl
    >>> from mtl_keras.exporters.signatures import concrete_functions
    >>> tasks = [mtl.Task("a", "binary"), mtl.Task("b", "regression")]
    >>> model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]), tasks)
    >>> sorted(concrete_functions(model))
    ['a', 'b', 'serving_default']
    """
    spec = input_signature(model)
    return {
        name: tf.function(fn, input_signature=[spec]).get_concrete_function()
        for name, fn in serving_functions(model, tasks).items()
    }


def as_feed(model, inputs) -> dict[str, np.ndarray]:
    """Flattens model inputs into `{signature_input_name: array}`."""
    spec = input_signature(model)
    if isinstance(spec, dict):
        if not isinstance(inputs, dict):
            raise ValueError(
                f"Expected inputs as a dict with keys {sorted(spec)}. "
                f"Received: {type(inputs).__name__}"
            )
        missing = sorted(set(spec) - set(inputs))
        if missing:
            raise ValueError(
                f"Expected inputs with keys {sorted(spec)}. Missing: {missing}"
            )
        return {k: np.asarray(inputs[k], s.dtype.as_numpy_dtype) for k, s in spec.items()}
    flat = tf.nest.flatten(spec)
    values = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    if len(values) != len(flat):
        raise ValueError(
            f"Expected {len(flat)} input arrays. Received: {len(values)}"
        )
    return {s.name: np.asarray(v, s.dtype.as_numpy_dtype) for s, v in zip(flat, values)}


def from_feed(model, feed: dict[str, np.ndarray]):
    """Inverse of `as_feed`: the structure the Keras model is called with."""
    spec = input_signature(model)
    if isinstance(spec, dict):
        return {k: feed[k] for k in spec}
    flat = [feed[s.name] for s in tf.nest.flatten(spec)]
    return flat if isinstance(spec, list) else flat[0]


def random_inputs(model, batch_size: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded sample inputs (`{signature_input_name: array}`) for checks and warm-up.

    Each follows its input's dtype: normal floats; for a raw categorical column
    (a lookup, see `raw_inputs.input_encodings`) values drawn from its
    vocabulary and one it has never seen; otherwise zeros (integers) or
    `"0"` (strings).
    """
    from mtl_keras.exporters.raw_inputs import input_encodings

    rng = np.random.default_rng(seed)
    encodings = input_encodings(model)
    feed = {}
    for s in tf.nest.flatten(input_signature(model)):
        shape = (batch_size,) + tuple(d if d is not None else 1 for d in s.shape[1:])
        vocabulary = encodings.get(s.name, {}).get("vocabulary")
        if s.dtype.is_floating:
            feed[s.name] = rng.normal(size=shape).astype(s.dtype.as_numpy_dtype)
        elif vocabulary:
            unseen = "<unseen>" if s.dtype == tf.string else max(vocabulary) + 1
            values = np.array(vocabulary + [unseen], dtype=object)
            feed[s.name] = values[rng.integers(0, len(values), size=shape)]
            if s.dtype != tf.string:
                feed[s.name] = feed[s.name].astype(s.dtype.as_numpy_dtype)
        elif s.dtype == tf.string:
            feed[s.name] = np.full(shape, b"0", dtype=object)
        else:
            feed[s.name] = np.zeros(shape, s.dtype.as_numpy_dtype)
    return feed


def keras_outputs(model, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The Keras model's outputs (inference mode) for a feed, as NumPy arrays."""
    out = model(from_feed(model, feed), training=False)
    return {k: np.asarray(keras.ops.convert_to_numpy(v)) for k, v in out.items()}
