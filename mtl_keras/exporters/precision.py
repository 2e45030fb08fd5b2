"""A float32 copy of a mixed-precision model, for TFLite (no 16-bit arithmetic).

Under `mixed_float16` / `mixed_bfloat16` a model's variables are float32 and
only its arithmetic is 16-bit. TFLite builtin kernels have no float16 or
bfloat16 arithmetic, so `export_tflite` converts a copy of the model whose
layers compute in float32, with the same variables, and compares the file with
the original (16-bit) model, within the bound for its compute dtype.
"""

from __future__ import annotations

import os
import tempfile

import keras

from mtl_keras.exporters import verify

__all__ = [
    "float32_copy",
    "needs_float32_copy",
]

_POLICY_CLASSES = ("DTypePolicy", "FloatDTypePolicy")
_SIXTEEN_BIT = ("float16", "bfloat16", "mixed_float16", "mixed_bfloat16")


def needs_float32_copy(model) -> bool:
    """Whether `model` computes in a 16-bit float type somewhere."""
    return verify.compute_dtype(model) in ("float16", "bfloat16")


def float32_copy(model):
    """A `MultiTaskModel` like `model` whose layers compute in float32, same weights.

    Args:
        model: A built `mtl_keras.MultiTaskModel`.

    Returns:
        The copy (not compiled).

    Raises:
        ValueError: A layer of the copy still computes in 16 bits (its config
            does not carry its dtype policy).

    Example:

    >>> import keras, mtl_keras as mtl
    >>> keras.mixed_precision.set_global_policy("mixed_float16")
    >>> tasks = [mtl.Task("a", "binary")]
    >>> model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]), tasks)
    >>> keras.mixed_precision.set_global_policy("float32")
    >>> verify.compute_dtype(float32_copy(model))
    'float32'
    """
    config = keras.saving.serialize_keras_object(model)
    _to_float32(config)
    # Layers that a layer creates in its constructor (an MLP's Dense layers)
    # take the global policy, not one from the config: make it float32 while
    # the copy is built (Keras has no scope for it), then restore it.
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        # The config is the in-memory model's own, not a file from elsewhere.
        copy = keras.saving.deserialize_keras_object(config, safe_mode=False)
    finally:
        keras.config.set_dtype_policy(policy)
    left = verify.compute_dtype(copy)
    if left != "float32" and left != "float64":
        raise ValueError(
            "Expected every layer of the float32 copy to compute in float32. Received: "
            f"layers computing in {left} (a layer whose config does not include its dtype)."
        )
    with tempfile.TemporaryDirectory(prefix="mtl-float32-") as work:
        # Through a weights file, so that layers whose state is derived from
        # their variables (an adapted Normalization's mean) rebuild it.
        path = os.path.join(work, "trunk.weights.h5")
        model.trunk.save_weights(path)
        copy.trunk.load_weights(path)
    for source, target in zip(model.heads, copy.heads):
        target.set_weights(source.get_weights())
    return copy


def _to_float32(node):
    """Rewrites every 16-bit dtype policy in a serialized config to float32, in place."""
    if isinstance(node, dict):
        if node.get("class_name") in _POLICY_CLASSES and isinstance(node.get("config"), dict):
            if node["config"].get("name") in _SIXTEEN_BIT:
                node["config"]["name"] = "float32"
        for key, value in node.items():
            if key == "dtype" and value in _SIXTEEN_BIT:
                node[key] = "float32"
            else:
                _to_float32(value)
    elif isinstance(node, list):
        for value in node:
            _to_float32(value)
