"""`ConvEncoder`: the classic shared image encoder of multi-task vision papers."""

from __future__ import annotations

from typing import Sequence

import keras
from keras import ops

from mtl_keras._validators import check_int, check_number, is_int


@keras.saving.register_keras_serializable(package="mtl_keras")
class ConvEncoder(keras.layers.Layer):
    """Conv + max-pool blocks, then flatten and a dense layer.

    With the defaults this is the two-block LeNet-style encoder that Sener &
    Koltun (NeurIPS 2018) share between the tasks of MultiMNIST. Inputs of
    shape `(batch, height, width)` get a channel axis added.

    Args:
        filters: Filters of each conv block, e.g. `(10, 20)`.
        kernel_size: Kernel size of every convolution.
        pool_size: Max-pooling window after each convolution.
        dense_units: Width of the final dense layer (the shared representation).
        activation: Activation of convolutions and the dense layer.
        dropout: Dropout rate before the dense layer (0 disables it).
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`).

    Example:

    >>> import numpy as np
    >>> tuple(ConvEncoder((4, 8), dense_units=16)(np.zeros((2, 28, 28), "float32")).shape)
    (2, 16)
    """

    def __init__(
        self,
        filters: Sequence[int] = (32, 64),
        kernel_size: int = 3,
        pool_size: int = 2,
        dense_units: int = 128,
        activation: str = "relu",
        dropout: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        filters = tuple(filters)
        if not filters or not all(is_int(f) and f >= 1 for f in filters):
            raise ValueError(
                f"Expected filters to be a non-empty list of ints >= 1. Received: filters={filters!r}"
            )
        self.filters = filters
        self.kernel_size = check_int(kernel_size, "kernel_size", min_value=1)
        self.pool_size = check_int(pool_size, "pool_size", min_value=1)
        self.dense_units = check_int(dense_units, "dense_units", min_value=1)
        self.activation = activation
        self.dropout = check_number(dropout, "dropout", min_value=0, max_value=1,
                                    max_exclusive=True)
        policy = self.dtype_policy
        self.convs = [
            keras.layers.Conv2D(f, self.kernel_size, padding="same", activation=activation,
                                name=f"conv_{i}", dtype=policy)
            for i, f in enumerate(filters)
        ]
        self.pools = [
            keras.layers.MaxPooling2D(self.pool_size, name=f"pool_{i}", dtype=policy)
            for i in range(len(filters))
        ]
        self.flatten = keras.layers.Flatten(dtype=policy)
        self.drop = keras.layers.Dropout(self.dropout) if self.dropout else None
        self.dense = keras.layers.Dense(dense_units, activation=activation, name="dense",
                                        dtype=policy)

    def build(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) == 3:
            shape = shape + (1,)
        if len(shape) != 4:
            raise ValueError(
                "ConvEncoder expects images of shape (batch, height, width) or "
                f"(batch, height, width, channels). Received: shape={tuple(input_shape)}"
            )
        for conv, pool in zip(self.convs, self.pools):
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            shape = pool.compute_output_shape(shape)
        shape = self.flatten.compute_output_shape(shape)
        self.dense.build(shape)

    def call(self, inputs, training=None):
        x = ops.cast(inputs, self.compute_dtype)
        if len(x.shape) == 3:
            x = ops.expand_dims(x, -1)
        for conv, pool in zip(self.convs, self.pools):
            x = pool(conv(x))
        x = self.flatten(x)
        if self.drop is not None:
            x = self.drop(x, training=training)
        return self.dense(x)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dense_units)

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": list(self.filters),
            "kernel_size": self.kernel_size,
            "pool_size": self.pool_size,
            "dense_units": self.dense_units,
            "activation": self.activation,
            "dropout": self.dropout,
        })
        return config


__all__ = [
    "ConvEncoder",
]
