"""Shared backbones: the part of a hard-sharing network that every task uses.

Each factory returns a Keras layer that maps the model inputs (a tensor, or a
dict of named tensors) to the shared representation `(batch, features)`.
"""

from __future__ import annotations

from typing import Sequence

import keras

from mtl_keras.layers.conv_encoder import ConvEncoder
from mtl_keras.layers.mlp import MLP


def mlp(
    units: Sequence[int] = (64, 64),
    activation: str = "relu",
    dropout: float = 0.0,
    batch_norm: bool = False,
    name: str = "mlp",
) -> MLP:
    """An `MLP` backbone: dense layers over the (concatenated) inputs.

    Example:

    >>> import mtl_keras as mtl
    >>> mtl.backbones.mlp([32, 16]).units
    (32, 16)
    """
    return MLP(units, activation=activation, dropout=dropout, batch_norm=batch_norm, name=name)


def conv(
    filters: Sequence[int] = (32, 64),
    kernel_size: int = 3,
    pool_size: int = 2,
    dense_units: int = 128,
    activation: str = "relu",
    dropout: float = 0.0,
    name: str = "conv_encoder",
) -> ConvEncoder:
    """A small CNN encoder: two conv+pool blocks and a dense layer by default.

    Example:

    >>> import mtl_keras as mtl
    >>> mtl.backbones.conv(dense_units=50).dense_units
    50
    """
    return ConvEncoder(filters, kernel_size=kernel_size, pool_size=pool_size,
                       dense_units=dense_units, activation=activation,
                       dropout=dropout, name=name)


def wrap(model: keras.layers.Layer, name: str | None = None) -> keras.layers.Layer:
    """Uses any Keras model or layer as a backbone.

    The model must output a rank-2 representation `(batch, features)`; for a
    `keras.applications` network pass `include_top=False, pooling="avg"` (and
    `weights=None` here: nothing can be downloaded at run time).

    Args:
        model: A `keras.Model` or `keras.layers.Layer`.
        name: Optional new name (a functional model is re-wrapped under it).

    Returns:
        The backbone layer.

    Raises:
        TypeError: If `model` is not a Keras layer.

    Example:

    >>> import keras, mtl_keras as mtl
    >>> net = keras.applications.MobileNetV3Small(
    ...     input_shape=(32, 32, 3), weights=None, include_top=False,
    ...     pooling="avg", include_preprocessing=False)
    >>> mtl.backbones.wrap(net).name
    'MobileNetV3Small'
    """
    if not isinstance(model, keras.layers.Layer):
        raise TypeError(
            "Expected a `keras.Model` or `keras.layers.Layer` to wrap as a "
            f"backbone. Received: {model!r} of type {type(model).__name__}"
        )
    if name is not None and name != model.name:
        if isinstance(model, keras.Model) and getattr(model, "inputs", None):
            return keras.Model(model.inputs, model.outputs[0] if len(model.outputs) == 1
                               else model.outputs, name=name)
        model.name = name
    return model


def clone(backbone: keras.layers.Layer, name: str) -> keras.layers.Layer:
    """A fresh, independently initialized copy of `backbone` (same structure)."""
    if isinstance(backbone, keras.Model) and not type(backbone).__module__.startswith("mtl_keras"):
        copy = keras.models.clone_model(backbone)
    else:
        config = backbone.get_config()
        copy = backbone.__class__.from_config(config)
    copy.name = name
    return copy


__all__ = [
    "clone",
    "conv",
    "mlp",
    "wrap",
]
