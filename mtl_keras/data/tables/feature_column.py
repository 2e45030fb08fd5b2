"""Feature columns: how one table column becomes a model input and its encoding.

A `FeatureColumn` names a column, the type of its `keras.utils.FeatureSpace`
feature and, once resolved from the training data, the state of its
preprocessing (mean and variance, vocabulary). A resolved column builds its
FeatureSpace feature without reading data again: the state is in the spec.

Types (FeatureSpace's names):

* `"float_normalized"`: standardized with the training mean and variance;
  missing cells get the training mean (`fill_value`), i.e. 0 after scaling.
* `"float"`: used as is; missing cells get `fill_value` (the training mean).
* `"integer_categorical"`, `"string_categorical"`: a vocabulary of the
  training values, most frequent first (`max_tokens` caps its size, OOV
  included, like `keras.layers.StringLookup`); unseen values go to the
  `num_oov_indices` out-of-vocabulary slots; one-hot encoded. A missing cell
  is the value -1 (integers) or `""` (strings), a category of its own.
* `"integer_hashed"`, `"string_hashed"`: hashed into `num_bins` bins.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import keras
import tensorflow as tf

from mtl_keras.data.tables.names import safe_name
from mtl_keras.data.tables.values import parse_integers, parse_numbers, to_text

FEATURE_TYPES = ("float", "float_normalized", "integer_categorical", "string_categorical",
                 "integer_hashed", "string_hashed")
_READS = {"float": "number", "float_normalized": "number",
          "integer_categorical": "integer", "integer_hashed": "integer",
          "string_categorical": "text", "string_hashed": "text"}
_INPUT_DTYPE = {"number": "float32", "integer": "int64", "text": "string"}
MISSING_INTEGER = -1


def _number(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"Expected {what} to be a finite number. Received: {what}={value!r}")
    return float(value)


class FeatureColumn:
    """One table column used as a model input.

    Args:
        column: The column's name in the table.
        type: One of `FEATURE_TYPES`, or None to infer it from the data.
        input: The model input's name (default: the column name made safe,
            e.g. `"Color intensity"` -> `"Color_intensity"`).
        num_bins: Bins of a hashed feature (default: the spec's `hashing_dim`).
        max_tokens: Cap of a categorical vocabulary, OOV slots included.
        num_oov_indices: Out-of-vocabulary slots of a categorical feature.
        mean, variance, fill_value: Resolved state of numeric features.
        vocabulary: Resolved vocabulary of a categorical feature.

    Example:

    >>> from mtl_keras.data.tables import FeatureColumn
    >>> f = FeatureColumn("city", "string_categorical", vocabulary=["Oslo", "Rome"])
    >>> f.is_resolved, f.input, f.input_dtype
    (True, 'city', 'string')
    >>> FeatureColumn.from_config(f.get_config()).vocabulary
    ['Oslo', 'Rome']
    """

    def __init__(self, column: str, type: str | None = None, input: str | None = None,
                 num_bins: int | None = None, max_tokens: int | None = None,
                 num_oov_indices: int = 1, mean: float | None = None,
                 variance: float | None = None, fill_value: float | None = None,
                 vocabulary: Sequence[Any] | None = None):
        if not isinstance(column, str) or not column:
            raise ValueError(f"Expected a column name. Received: column={column!r}")
        self.column = column
        if type is not None and type not in FEATURE_TYPES:
            raise ValueError(f"Feature {column!r}: expected type among {list(FEATURE_TYPES)} "
                             f"(or none, to infer it). Received: type={type!r}")
        self.type = type
        self.input = safe_name(column) if input is None else input
        if safe_name(self.input) != self.input:
            raise ValueError(f"Feature {column!r}: expected an input name of letters, digits "
                             f"and underscores, starting with a letter. Received: input={input!r}")
        for arg, value, low in (("num_bins", num_bins, 1), ("max_tokens", max_tokens, 2),
                                ("num_oov_indices", num_oov_indices, 0)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or value < low):
                raise ValueError(f"Feature {column!r}: expected {arg} to be an int >= {low}. "
                                 f"Received: {arg}={value!r}")
        if max_tokens is not None and max_tokens <= num_oov_indices:
            raise ValueError(f"Feature {column!r}: expected max_tokens > num_oov_indices. "
                             f"Received: max_tokens={max_tokens}, num_oov_indices={num_oov_indices}")
        self.num_bins, self.max_tokens, self.num_oov_indices = num_bins, max_tokens, num_oov_indices
        self.mean = None if mean is None else _number(mean, "mean")
        self.variance = None if variance is None else _number(variance, "variance")
        if self.variance is not None and self.variance < 0:
            raise ValueError(f"Feature {column!r}: expected variance >= 0. "
                             f"Received: variance={variance!r}")
        self.fill_value = None if fill_value is None else _number(fill_value, "fill_value")
        self.vocabulary = None if vocabulary is None else list(vocabulary)
        if self.vocabulary is not None:
            self._check_vocabulary()

    def _check_vocabulary(self):
        kind = _READS.get(self.type)
        ok = (all(isinstance(v, str) for v in self.vocabulary) if kind == "text" else
              all(isinstance(v, int) and not isinstance(v, bool) for v in self.vocabulary)
              if kind == "integer" else False)
        if not ok or not self.vocabulary or len(set(self.vocabulary)) != len(self.vocabulary):
            raise ValueError(
                f"Feature {self.column!r}: expected a vocabulary only for a categorical type: a "
                "non-empty list of unique strings (string_categorical) or integers "
                f"(integer_categorical). Received: type={self.type!r}, "
                f"vocabulary={self.vocabulary[:10]!r}"
            )
        if MISSING_INTEGER in self.vocabulary and kind == "integer":
            raise ValueError(f"Feature {self.column!r}: {MISSING_INTEGER} marks a missing or "
                             "unknown integer category and cannot be in the vocabulary.")

    # -------------------------------------------------------------- properties
    @property
    def reads(self) -> str | None:
        """How cells are read: `"number"`, `"integer"` or `"text"` (None if untyped)."""
        return _READS.get(self.type)

    @property
    def input_dtype(self) -> str:
        """dtype of the model input: float32, int64 or string."""
        return _INPUT_DTYPE[self.reads]

    @property
    def is_resolved(self) -> bool:
        """Whether the type and the state the type needs are known."""
        if self.type is None:
            return False
        if self.type == "float_normalized":
            return None not in (self.mean, self.variance, self.fill_value)
        if self.type == "float":
            return self.fill_value is not None
        if self.type.endswith("categorical"):
            return self.vocabulary is not None
        return self.num_bins is not None

    # --------------------------------------------------------------- encoding
    def convert(self, raw: tf.Tensor, na_values: Sequence[str]) -> tf.Tensor:
        """The model input `(batch, 1)` from a raw column (missing cells filled)."""
        if self.reads == "number":
            values, _ = parse_numbers(raw, na_values)
            values = tf.where(tf.math.is_nan(values), tf.constant(self.fill_value, tf.float64),
                              values)
            out = tf.cast(values, tf.float32)
        elif self.reads == "integer":
            values, missing, invalid = parse_integers(raw, na_values)
            out = tf.where(tf.logical_or(missing, invalid), tf.constant(MISSING_INTEGER, tf.int64),
                           values)
        else:
            out = to_text(raw, na_values)
        return tf.expand_dims(out, -1)

    def feature(self):
        """This column's `keras.utils.FeatureSpace` feature, with its resolved state."""
        if not self.is_resolved:
            raise ValueError(f"Feature {self.column!r} is not resolved yet (type {self.type!r}): "
                             "load the spec on data first (`DataSpec.load`).")
        FeatureSpace = keras.utils.FeatureSpace
        name = f"{self.input}_preprocessor"
        if self.type == "float":
            return FeatureSpace.float(name=self.input)
        if self.type == "float_normalized":
            layer = keras.layers.Normalization(mean=self.mean, variance=self.variance, name=name)
            return FeatureSpace.feature("float32", layer, "float")
        if self.type == "integer_categorical":
            layer = keras.layers.IntegerLookup(
                vocabulary=self.vocabulary, num_oov_indices=self.num_oov_indices,
                oov_token=MISSING_INTEGER, name=name)
            return FeatureSpace.feature("int64", layer, "one_hot")
        if self.type == "string_categorical":
            layer = keras.layers.StringLookup(
                vocabulary=self.vocabulary, num_oov_indices=self.num_oov_indices, name=name)
            return FeatureSpace.feature("string", layer, "one_hot")
        layer = keras.layers.Hashing(num_bins=self.num_bins, name=name)
        return FeatureSpace.feature(self.input_dtype, layer, "one_hot")

    # ---------------------------------------------------------- serialization
    def get_config(self) -> dict:
        config = {"type": self.type, "input": self.input}
        optional = {"num_bins": self.num_bins, "max_tokens": self.max_tokens,
                    "mean": self.mean, "variance": self.variance, "fill_value": self.fill_value,
                    "vocabulary": self.vocabulary}
        if self.num_oov_indices != 1:
            optional["num_oov_indices"] = self.num_oov_indices
        config.update({k: v for k, v in optional.items() if v is not None})
        return {"column": self.column, **config}

    @classmethod
    def from_config(cls, config: dict) -> "FeatureColumn":
        return cls(**config)

    def replace(self, **changes) -> "FeatureColumn":
        """A copy with some arguments changed."""
        return type(self).from_config({**self.get_config(), **changes})

    def __repr__(self):
        return f"FeatureColumn({self.column!r}, {self.type!r})"


class FeatureCross:
    """A cross of categorical or hashed features, hashed into `crossing_dim` bins.

    Args:
        columns: The crossed columns (two or more feature columns).
        crossing_dim: Bins of the crossed feature.
    """

    def __init__(self, columns: Sequence[str], crossing_dim: int = 32):
        if isinstance(columns, str) or len(columns) < 2 or not all(
                isinstance(c, str) for c in columns) or len(set(columns)) != len(columns):
            raise ValueError("Expected a cross of two or more different feature columns. "
                             f"Received: columns={columns!r}")
        if not isinstance(crossing_dim, int) or isinstance(crossing_dim, bool) or crossing_dim < 1:
            raise ValueError(f"Expected crossing_dim to be an int >= 1. "
                             f"Received: crossing_dim={crossing_dim!r}")
        self.columns, self.crossing_dim = list(columns), crossing_dim

    def get_config(self) -> dict:
        return {"columns": list(self.columns), "crossing_dim": self.crossing_dim}

    @classmethod
    def from_config(cls, config) -> "FeatureCross":
        if isinstance(config, (list, tuple)):
            return cls(list(config))
        return cls(**config)


def build_feature_space(features: Sequence[FeatureColumn], crosses: Sequence[FeatureCross] = (),
                        output_mode: str = "concat") -> keras.utils.FeatureSpace:
    """A ready `keras.utils.FeatureSpace` from resolved feature columns.

    Every preprocessing layer gets its state (mean and variance, vocabulary)
    from the spec, so no `adapt()` pass over the data is needed.

    Args:
        features: Resolved `FeatureColumn`s; the FeatureSpace's feature names
            (and so the model's input names) are their `input` names.
        crosses: `FeatureCross`es of categorical or hashed features.
        output_mode: `"concat"` (one vector) or `"dict"` (one encoding per
            feature and cross).
    """
    by_column = {f.column: f for f in features}
    fs_crosses = []
    for cross in crosses:
        names = []
        for c in cross.columns:
            f = by_column.get(c)
            if f is None or f.reads == "number":
                raise ValueError(
                    "Expected crosses of categorical or hashed feature columns. Received: "
                    f"{c!r} in cross {cross.columns} is "
                    + ("not a feature." if f is None else f"a {f.type} feature.")
                )
            names.append(f.input)
        fs_crosses.append(keras.utils.FeatureSpace.cross(names, crossing_dim=cross.crossing_dim))
    space = keras.utils.FeatureSpace({f.input: f.feature() for f in features},
                                     output_mode=output_mode, crosses=fs_crosses or None)
    # The state is in each preprocessor's config (as after loading a saved
    # FeatureSpace): mark the space adapted through its public restore method.
    space.build_from_config({})
    return space
