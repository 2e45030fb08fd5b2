"""Input handling shared by every builder: validate, preprocess, feed the shared part.

* `normalize_inputs`: a `keras.Input`, or a non-empty dict or list of them.
* `apply_preprocessing`: per-input layers (e.g. an adapted `Normalization`).
* `single_input`: unwraps a one-entry dict for a `keras.Model` backbone.
* `merge_inputs`: one `(batch, features)` tensor for the gated-expert layers.
"""

from __future__ import annotations

from typing import Any, Mapping

import keras

__all__ = ["apply_preprocessing", "merge_inputs", "normalize_inputs", "single_input"]


def normalize_inputs(inputs: Any):
    """Validates builder inputs: a `keras.Input`, a non-empty list or dict of them.

    Returns:
        The tensor, or a new dict / list of the tensors.

    Raises:
        TypeError: For anything else.
    """
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
    """Applies per-input preprocessing layers (e.g. an adapted `Normalization`).

    Args:
        inputs: What `normalize_inputs` returned.
        preprocessing: `{input_name: layer}`, or None. For a single (not
            dict) input, exactly one layer, whatever its key.

    Returns:
        `inputs` with each named entry replaced by its layer's output.

    Raises:
        ValueError: Layers for inputs that do not exist, or several layers
            for a single input.
    """
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


def single_input(x, layer: keras.layers.Layer):
    """`x` itself, or its only tensor when `x` is a one-entry dict and `layer` a `keras.Model`.

    A functional `keras.Model` built on one `keras.Input` expects that
    tensor, not a dict holding it; other layers receive `x` unchanged.
    """
    if isinstance(x, dict) and len(x) == 1 and isinstance(layer, keras.Model):
        return next(iter(x.values()))
    return x


def merge_inputs(x):
    """One `(batch, features)` tensor from a tensor, dict (sorted keys) or list.

    Inputs of rank > 2 are flattened (`flatten_input_<i>`); several inputs
    are concatenated (`concat_inputs`).

    Example:

    >>> import keras
    >>> merged = merge_inputs({"b": keras.Input((2,)), "a": keras.Input((3, 4))})
    >>> tuple(merged.shape)
    (None, 14)
    """
    parts = [x[k] for k in sorted(x)] if isinstance(x, dict) else (
        list(x) if isinstance(x, (list, tuple)) else [x])
    parts = [keras.layers.Flatten(name=f"flatten_input_{i}")(p) if len(p.shape) > 2 else p
             for i, p in enumerate(parts)]
    if len(parts) == 1:
        return parts[0]
    return keras.layers.Concatenate(name="concat_inputs")(parts)
