"""`MLP`: a stack of dense layers, the default shared backbone for tabular data."""

from __future__ import annotations

from typing import Sequence

import keras
from keras import ops

from mtl_keras._validators import check_number, is_int


def concat_inputs(inputs):
    """Flattens a tensor, list or dict of tensors into one `(batch, features)` tensor.

    Dict inputs are concatenated in sorted key order, so the order does not
    depend on how the dict was built.
    """
    if isinstance(inputs, dict):
        parts = [inputs[k] for k in sorted(inputs)]
    elif isinstance(inputs, (list, tuple)):
        parts = list(inputs)
    else:
        return inputs if len(inputs.shape) == 2 else ops.reshape(inputs, (-1, _flat(inputs)))
    parts = [
        ops.cast(p if len(p.shape) == 2 else (
            ops.expand_dims(p, -1) if len(p.shape) == 1 else ops.reshape(p, (-1, _flat(p)))
        ), "float32")
        for p in parts
    ]
    return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)


def _flat(x):
    n = 1
    for d in x.shape[1:]:
        if d is None:
            raise ValueError(
                "Expected inputs with known non-batch dimensions. "
                f"Received: shape={tuple(x.shape)}"
            )
        n *= d
    return n


@keras.saving.register_keras_serializable(package="mtl_keras")
class MLP(keras.layers.Layer):
    """Dense layers with optional batch normalization and dropout.

    Accepts a tensor, or a dict/list of tensors (one per named input) that it
    concatenates (dict keys in sorted order) before the first layer.

    Args:
        units: Width of each dense layer, e.g. `(64, 64)`.
        activation: Activation of every layer.
        dropout: Dropout rate after each layer (0 disables it).
        batch_norm: Whether to batch-normalize before each activation.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`).

    Example:

    >>> import numpy as np
    >>> tuple(MLP((16, 8))({"a": np.zeros((2, 3), "float32"),
    ...                     "b": np.zeros((2, 1), "float32")}).shape)
    (2, 8)
    """

    def __init__(
        self,
        units: Sequence[int] = (64, 64),
        activation: str = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        units = tuple(units)
        if not units or not all(is_int(u) and u >= 1 for u in units):
            raise ValueError(
                f"Expected units to be a non-empty list of ints >= 1. Received: units={units!r}"
            )
        self.units = units
        self.activation = activation
        self.dropout = check_number(dropout, "dropout", min_value=0, max_value=1,
                                    max_exclusive=True)
        self.batch_norm = bool(batch_norm)
        self.blocks = []
        for i, width in enumerate(units):
            block = [keras.layers.Dense(
                width, activation=None if batch_norm else activation, name=f"dense_{i}",
                dtype=self.dtype_policy)]
            if batch_norm:
                block.append(keras.layers.BatchNormalization(name=f"bn_{i}",
                                                             dtype=self.dtype_policy))
                block.append(keras.layers.Activation(activation, name=f"act_{i}",
                                                     dtype=self.dtype_policy))
            if self.dropout:
                block.append(keras.layers.Dropout(self.dropout, name=f"dropout_{i}"))
            self.blocks.append(block)

    def build(self, input_shape):
        if isinstance(input_shape, dict):
            width = sum(_width(s) for s in input_shape.values())
        elif isinstance(input_shape, (list, tuple)) and input_shape and isinstance(
            input_shape[0], (list, tuple)
        ):
            width = sum(_width(s) for s in input_shape)
        else:
            width = _width(input_shape)
        shape = (None, width)
        for block in self.blocks:
            for layer in block:
                layer.build(shape)
                shape = layer.compute_output_shape(shape)

    def call(self, inputs, training=None):
        x = concat_inputs(inputs)
        x = ops.cast(x, self.compute_dtype)
        for block in self.blocks:
            for layer in block:
                x = layer(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        first = next(iter(input_shape.values())) if isinstance(input_shape, dict) else input_shape
        if isinstance(first, (list, tuple)) and first and isinstance(first[0], (list, tuple)):
            first = first[0]
        return (first[0], self.units[-1])

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": list(self.units),
            "activation": self.activation,
            "dropout": self.dropout,
            "batch_norm": self.batch_norm,
        })
        return config


def _width(shape):
    shape = tuple(shape)
    if len(shape) == 1:
        return 1
    n = 1
    for d in shape[1:]:
        n *= d
    return n


__all__ = [
    "MLP",
    "concat_inputs",
]
