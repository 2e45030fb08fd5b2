"""Models on raw table columns, for TFLite: the lookups in the app, the numbers in the file.

A model built on `mtl_keras.data.TableData.preprocessing()` takes raw column
values: each input goes through its `<input>_encoding` model (a
`keras.utils.FeatureSpace` part): normalization for numbers, a
`StringLookup` / `IntegerLookup` or `Hashing` layer and a one-hot
`CategoryEncoding` for categories. The SavedModel keeps all of that (TF
Serving takes the raw row), but TFLite has no builtin kernels for the lookup
tables (`HashTableV2`, `LookupTableFindV2`) nor for the one-hot
`DenseBincount`. So the TFLite file is converted from the model's *numeric
part*: each categorical input becomes the int32 index its lookup gives
(`(batch, 1)`), one-hot encoded inside the file by `IndexOneHot` (TFLite's
builtin `ONE_HOT`); numeric inputs, and their normalization, are unchanged.
The app looks the index up itself, with the vocabularies shipped next to the
file (`input_encodings`, written as `<model_name>_inputs.json` by
`export_all`):

* `"lookup"`: `index = num_oov_indices + vocabulary.index(value)`; a missing
  or unknown value is index 0 (the one out-of-vocabulary slot);
* `"hashing"`: `index = FarmHash Fingerprint64(text) % num_bins` (whole
  numbers hashed as their decimal text), as `tf.strings.to_hash_bucket_fast`.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

__all__ = ["ENCODING_SUFFIX", "IndexOneHot", "encode_dataset", "encode_feed",
           "input_encodings", "inputs_manifest", "numeric_model"]

ENCODING_SUFFIX = "_encoding"
_LOOKUPS = (keras.layers.StringLookup, keras.layers.IntegerLookup, keras.layers.Hashing)


@keras.saving.register_keras_serializable(package="mtl_keras")
class IndexOneHot(keras.layers.Layer):
    """One-hot float32 vectors `(batch, depth)` from indices `(batch, 1)`.

    Args:
        depth: Number of slots (the lookup's vocabulary size, out-of-vocabulary
            slots included, or the hashing bins).

    Example:

    >>> import numpy as np
    >>> from mtl_keras.exporters.raw_inputs import IndexOneHot
    >>> IndexOneHot(3)(np.array([[2], [0]], "int32")).numpy().tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """

    def __init__(self, depth: int, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
            raise ValueError(f"Expected depth to be an int >= 1. Received: depth={depth!r}")
        self.depth = depth

    def call(self, inputs, mask=None):
        indices = keras.ops.reshape(keras.ops.cast(inputs, "int32"), (-1,))
        return keras.ops.one_hot(indices, self.depth, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.depth)

    def get_config(self):
        return {**super().get_config(), "depth": self.depth}


def _lookup_layer(model, name):
    """The lookup or hashing layer inside input `name`'s encoding model, or None."""
    try:
        encoding = model.trunk.get_layer(f"{name}{ENCODING_SUFFIX}")
    except ValueError:
        return None, None
    found = [layer for layer in getattr(encoding, "layers", []) if isinstance(layer, _LOOKUPS)]
    return (found[0], encoding) if found else (None, None)


def _text(value) -> Any:
    value = value.item() if hasattr(value, "item") else value
    return value.decode("utf-8") if isinstance(value, bytes) else value


def input_encodings(model) -> dict[str, dict]:
    """`{input: encoding}` for each input of `model` that TFLite cannot look up itself.

    An encoding is `{"encoding": "lookup", "vocabulary": [...],
    "num_oov_indices": n, "depth": d}` or `{"encoding": "hashing", "num_bins":
    n, "depth": d}`, with the raw input's `"dtype"` (string or int64). Empty
    for a model without such inputs (e.g. one on numbers only).
    """
    struct = model.trunk.input
    if not isinstance(struct, dict):
        return {}
    out = {}
    for name, tensor in struct.items():
        layer, encoding = _lookup_layer(model, name)
        if layer is None:
            continue
        entry = {"dtype": keras.backend.standardize_dtype(tensor.dtype),
                 "depth": int(encoding.output.shape[-1])}
        if isinstance(layer, keras.layers.Hashing):
            entry.update(encoding="hashing", num_bins=int(layer.num_bins))
        else:
            vocabulary = [_text(v) for v in layer.get_vocabulary(include_special_tokens=False)]
            entry.update(encoding="lookup", vocabulary=vocabulary,
                         num_oov_indices=int(layer.num_oov_indices))
        out[name] = entry
    return out


def inputs_manifest(model) -> dict:
    """The JSON written next to the TFLite files: every input and how to feed it."""
    encodings = input_encodings(model)
    inputs = {}
    for name, tensor in model.trunk.input.items():
        if name in encodings:
            inputs[name] = {"feed": "int32 index, shape (batch, 1)", **encodings[name]}
        else:
            inputs[name] = {"feed": f"{keras.backend.standardize_dtype(tensor.dtype)} value, "
                                    f"shape (batch, {tensor.shape[-1]})", "encoding": "none"}
    return {"format": "mtl_keras.tflite_inputs", "version": 1, "inputs": inputs,
            "lookup": "index = num_oov_indices + vocabulary.index(value); missing or unknown "
                      "values: 0",
            "hashing": "index = FarmHash Fingerprint64(text) % num_bins (whole numbers as "
                       "decimal text), as tf.strings.to_hash_bucket_fast"}


def numeric_model(model):
    """A `MultiTaskModel` sharing `model`'s weights, taking lookup indices (see the module).

    Raises:
        ValueError: `model` has no input that needs a lookup.
    """
    from mtl_keras.model import MultiTaskModel

    encodings = input_encodings(model)
    if not encodings:
        raise ValueError("Expected a model with categorical or hashed raw-column inputs (built "
                         "on TableData.preprocessing()). Received a model without any: export "
                         "it as it is.")
    trunk = model.trunk
    inputs = {}
    for name, tensor in trunk.input.items():
        if name in encodings:
            inputs[name] = keras.Input((1,), dtype="int32", name=name)
        else:
            inputs[name] = keras.Input(tuple(tensor.shape[1:]), dtype=tensor.dtype, name=name)
    replaced = {f"{name}{ENCODING_SUFFIX}": e["depth"] for name, e in encodings.items()}

    def clone(layer):
        if layer.name in replaced:
            return IndexOneHot(replaced[layer.name], name=layer.name)
        return layer  # the same layer: the weights are shared

    numeric_trunk = keras.models.clone_model(trunk, input_tensors=inputs, clone_function=clone)
    tasks = [model.get_task(n) for n in model.task_names]
    return MultiTaskModel(numeric_trunk, tasks, heads=list(model.heads),
                          name=f"{model.name}_numeric")


def encode_feed(model, feed: dict) -> dict:
    """Raw inputs `{input: array}` -> the numeric model's inputs (lookup indices, int32)."""
    out = dict(feed)
    for name in input_encodings(model):
        layer, _ = _lookup_layer(model, name)
        values = feed[name]
        if not isinstance(values, tf.Tensor):
            values = np.asarray(values)
            values = tf.constant(values.astype(object) if values.dtype.kind == "U" else values)
        out[name] = np.asarray(tf.cast(layer(values), tf.int32))
    return out


def encode_dataset(model, dataset: tf.data.Dataset) -> tf.data.Dataset:
    """`dataset` (of inputs, or of `(inputs, labels, ...)`) with the inputs encoded."""
    layers = {name: _lookup_layer(model, name)[0] for name in input_encodings(model)}

    def encode(x):
        return {k: tf.cast(layers[k](v), tf.int32) if k in layers else v for k, v in x.items()}

    def element(*parts):
        if len(parts) == 1:
            return encode(parts[0])
        return (encode(parts[0]),) + tuple(parts[1:])

    return dataset.map(tf.autograph.experimental.do_not_convert(element))
