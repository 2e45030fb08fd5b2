"""`TaskHead`: the task-specific part of a multi-task network."""

from __future__ import annotations

from typing import Sequence

import keras

from mtl_keras._validators import check_int, check_number, is_int


@keras.saving.register_keras_serializable(package="mtl_keras")
class TaskHead(keras.layers.Layer):
    """Hidden dense layers, then the task's output layer.

    The output activation runs in float32 even under a `mixed_float16` policy,
    so probabilities and regression outputs keep full precision.

    Args:
        units: Output width (1 for binary, the number of classes, ...).
        hidden_units: Sizes of the hidden dense layers before the output.
        activation: Activation of the hidden layers.
        dropout: Dropout rate after each hidden layer (0 disables it).
        output_activation: `"sigmoid"`, `"softmax"` or `"linear"`.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`, ...).
            The builders name each head after its task.

    Example:

    >>> import numpy as np
    >>> head = TaskHead(3, hidden_units=(8,), output_activation="softmax",
    ...                 name="species")
    >>> tuple(head(np.zeros((2, 4), "float32")).shape)
    (2, 3)
    """

    @classmethod
    def for_task(cls, task) -> "TaskHead":
        """The default head of a `mtl_keras.Task`, named after it, from its head spec."""
        return cls(
            task.output_size,
            hidden_units=task.head_units,
            activation=task.head_activation,
            dropout=task.head_dropout,
            output_activation=task.output_activation,
            name=task.name,
        )

    def __init__(
        self,
        units: int,
        hidden_units: Sequence[int] = (),
        activation: str = "relu",
        dropout: float = 0.0,
        output_activation: str = "linear",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_int(units, "units", min_value=1)
        self.hidden_units = tuple(hidden_units)
        if not all(is_int(u) and u >= 1 for u in self.hidden_units):
            raise ValueError("Expected hidden_units to be a list of ints >= 1. "
                             f"Received: hidden_units={hidden_units!r}")
        self.hidden_units = tuple(int(u) for u in self.hidden_units)
        self.activation = activation
        self.dropout = check_number(dropout, "dropout", min_value=0, max_value=1,
                                    max_exclusive=True)
        self.output_activation = output_activation
        self.hidden_layers = []
        for i, width in enumerate(self.hidden_units):
            self.hidden_layers.append(
                keras.layers.Dense(width, activation=activation, name=f"hidden_{i}",
                                   dtype=self.dtype_policy)
            )
            if self.dropout:
                self.hidden_layers.append(
                    keras.layers.Dropout(self.dropout, name=f"dropout_{i}")
                )
        self.output_dense = keras.layers.Dense(units, name="logits", dtype=self.dtype_policy)
        self.output_act = keras.layers.Activation(
            output_activation, dtype="float32", name="output"
        )

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.hidden_layers:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.output_dense.build(shape)

    def call(self, inputs, training=None):
        x = inputs
        for layer in self.hidden_layers:
            x = layer(x, training=training)
        return self.output_act(self.output_dense(x))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "hidden_units": list(self.hidden_units),
                "activation": self.activation,
                "dropout": self.dropout,
                "output_activation": self.output_activation,
            }
        )
        return config


__all__ = [
    "TaskHead",
]
