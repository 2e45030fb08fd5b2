"""`CrossStitch`: learned linear mixing of the activations of parallel towers."""

from __future__ import annotations

import keras
from keras import ops

from mtl_keras._validators import check_number


@keras.saving.register_keras_serializable(package="mtl_keras")
class CrossStitch(keras.layers.Layer):
    """A cross-stitch unit between `T` parallel towers.

    Misra, Shrivastava, Gupta & Hebert, "Cross-stitch Networks for Multi-task
    Learning", CVPR 2016.

    Takes the list of the towers' activations `x_1 ... x_T` (identical shapes)
    and returns the list

        y_i = sum_j alpha_ij * x_j

    with a trainable `(T, T)` matrix `alpha`, initialized to `self_weight` on
    the diagonal and `(1 - self_weight) / (T - 1)` elsewhere (rows sum to 1),
    the paper's (alpha_S, alpha_D) initialization. `self_weight=1` is the
    identity: the towers start out independent.

    Args:
        self_weight: Initial weight of a tower's own activation, in [0, 1].
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`).

    Raises:
        ValueError: A `self_weight` outside [0, 1]; at build time, fewer
            than two inputs or inputs of different shapes.

    Example:

    >>> import numpy as np
    >>> unit = CrossStitch(self_weight=0.8)
    >>> a, b = np.ones((1, 2), "float32"), np.zeros((1, 2), "float32")
    >>> [o.numpy().tolist() for o in unit([a, b])]
    [[[0.800000011920929, 0.800000011920929]], [[0.20000000298023224, 0.20000000298023224]]]
    """

    def __init__(self, self_weight: float = 0.9, **kwargs):
        super().__init__(**kwargs)
        self.self_weight = check_number(self_weight, "self_weight", min_value=0,
                                        max_value=1)

    def build(self, input_shape):
        shapes = [tuple(s) for s in input_shape] if isinstance(input_shape, (list, tuple)) \
            and input_shape and isinstance(input_shape[0], (list, tuple)) else None
        if not shapes or len(shapes) < 2:
            raise ValueError(
                "Expected CrossStitch inputs to be a list of at least two tensors (one per "
                f"tower). Received: input_shape={input_shape}"
            )
        if any(s[1:] != shapes[0][1:] for s in shapes):
            raise ValueError(
                "Expected the towers' activations to have identical shapes. "
                f"Received: {shapes}"
            )
        t = len(shapes)
        other = (1.0 - self.self_weight) / (t - 1)
        init = [[self.self_weight if i == j else other for j in range(t)] for i in range(t)]
        self.alpha = self.add_weight(
            name="alpha", shape=(t, t),
            initializer=keras.initializers.Constant(init), trainable=True,
        )

    def call(self, inputs):
        t = len(inputs)
        alpha = ops.cast(self.alpha, self.compute_dtype)
        outputs = []
        for i in range(t):
            y = alpha[i, 0] * inputs[0]
            for j in range(1, t):
                y = y + alpha[i, j] * inputs[j]
            outputs.append(y)
        return outputs

    def compute_output_shape(self, input_shape):
        return [tuple(s) for s in input_shape]

    def get_config(self):
        config = super().get_config()
        config["self_weight"] = self.self_weight
        return config


__all__ = [
    "CrossStitch",
]
