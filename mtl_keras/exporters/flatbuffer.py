"""Smaller TFLite files: one copy of every repeated array in the flatbuffer.

A TFLite file with several signatures (`serving_default` plus one per task)
holds one subgraph per signature. The converter shares the weight buffers
between subgraphs, but every quantized tensor of every subgraph carries its
own quantization vectors: per-channel scales (float32) and zero points
(int64, all zero for int8 weights). For a 512-wide layer that is 6 KiB per
layer and per signature, the same numbers each time.

FlatBuffers lets several tables point at one vector. `share_identical_vectors`
re-serializes a TFLite model with the TensorFlow Lite schema's object API
(as `tensorflow/lite/tools/flatbuffer_utils.py` does) through a builder that
writes each distinct array once and points every other use at it. The model
is unchanged: same tensors, same values, same signatures; weight buffers stay
16-byte aligned.
"""

from __future__ import annotations

import flatbuffers
import numpy as np

__all__ = [
    "share_identical_vectors",
]

_FILE_IDENTIFIER = b"TFL3"
_BUFFER_ALIGNMENT = 16


class _SharingBuilder(flatbuffers.Builder):
    """A `flatbuffers.Builder` that writes identical numpy vectors once."""

    def __init__(self, initial_size):
        super().__init__(initial_size)
        self._written = {}

    def CreateNumpyVector(self, x):  # noqa: N802 (flatbuffers' API name)
        key = (x.dtype.str, x.tobytes())
        offset = self._written.get(key)
        if offset is None:
            offset = self._create(x)
            self._written[key] = offset
        return offset

    def _create(self, x):
        if x.dtype != np.uint8:
            return super().CreateNumpyVector(x)
        # Byte vectors hold weight buffers: keep them 16-byte aligned, as
        # the converter writes them.
        payload = x.tobytes()
        self.StartVector(1, len(payload), _BUFFER_ALIGNMENT)
        self.head = self.head - len(payload)
        self.Bytes[self.head:self.head + len(payload)] = payload
        self.vectorNumElems = len(payload)
        return self.EndVector()


def share_identical_vectors(content: bytes) -> bytes:
    """Returns the TFLite model `content` with each repeated array stored once.

    Args:
        content: A TFLite flatbuffer (as returned by `TFLiteConverter.convert()`).

    Returns:
        The re-serialized model, or `content` itself when that is not smaller
        (or when the model uses external buffers, which this does not handle).

    Example:

    >>> import tensorflow as tf
    >>> f = tf.function(lambda x: 2.0 * x + 1.0,
    ...                 input_signature=[tf.TensorSpec([1, 4], tf.float32)])
    >>> content = tf.lite.TFLiteConverter.from_concrete_functions(
    ...     [f.get_concrete_function()]).convert()
    >>> len(share_identical_vectors(content)) <= len(content)
    True
    """
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    if any(getattr(b, "offset", 0) for b in model.buffers or []):
        return content  # buffers stored outside the flatbuffer (> 2 GB models)
    builder = _SharingBuilder(len(content))
    builder.Finish(model.Pack(builder), file_identifier=_FILE_IDENTIFIER)
    out = bytes(builder.Output())
    return out if len(out) < len(content) else content
