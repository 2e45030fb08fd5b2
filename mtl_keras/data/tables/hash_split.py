"""Deterministic train/validation/test split of one source by hashing a key column."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import tensorflow as tf

from mtl_keras.data.tables.values import to_text

SPLITS = ("train", "validation", "test")
NUM_BUCKETS = 10_000


class HashSplit:
    """Assigns each row to a split by a fingerprint of its key.

    The key cell is read as text (a whole number as its integer text, so
    `17` in CSV and `17.0` in Parquet are the same key), prefixed by `salt`,
    and hashed with FarmHash's Fingerprint64 (`tf.strings.to_hash_bucket_fast`,
    stable across platforms and TensorFlow versions) into 10,000 buckets; the
    buckets are cut in the order train, validation, test by the fractions.
    A row's split depends only on its key: appending rows to the file never
    moves a row to another split, and rows with the same key stay together.

    Args:
        key: The key column (an id). Its cells may not be empty.
        fractions: `{split: fraction}` over `"train"`, `"validation"`,
            `"test"`; positive, summing to 1 (a split left out gets no rows).
        salt: A string mixed into the hash, to draw another split.

    Example:

    >>> import tensorflow as tf
    >>> from mtl_keras.data.tables import HashSplit
    >>> split = HashSplit("id", {"train": 0.8, "validation": 0.2})
    >>> keys = [str(i) for i in range(10)]
    >>> tf.strings.to_hash_bucket_fast(keys, 10_000).numpy().tolist()
    [2735, 4849, 8759, 2921, 543, 971, 1487, 6088, 6627, 9085]
    >>> split.assign(tf.constant(keys)).numpy().tolist()  # bucket >= 8000: validation
    [0, 0, 1, 0, 0, 0, 0, 0, 0, 1]
    >>> split.assign(tf.constant([2.0, 9.0], tf.float64)).numpy().tolist()  # same keys
    [1, 1]
    """

    def __init__(self, key: str, fractions: Mapping[str, float] | None = None,
                 salt: str = ""):
        if not isinstance(key, str) or not key:
            raise ValueError(f"Expected key to be the name of a column. Received: key={key!r}")
        fractions = {"train": 0.8, "validation": 0.1, "test": 0.1} if fractions is None \
            else dict(fractions)
        unknown = sorted(set(fractions) - set(SPLITS))
        if unknown:
            raise ValueError(f"Expected fractions keyed by splits among {list(SPLITS)}. "
                             f"Received unknown splits: {unknown}")
        try:
            values = {s: float(f) for s, f in fractions.items()}
        except (TypeError, ValueError):
            raise ValueError(f"Expected numeric fractions. Received: fractions={fractions!r}")
        if ("train" not in values or any(not (0 < f <= 1) for f in values.values())
                or not math.isclose(sum(values.values()), 1.0, abs_tol=1e-6)):
            raise ValueError(
                "Expected positive fractions, one for 'train', summing to 1. "
                f"Received: fractions={fractions!r}"
            )
        if not isinstance(salt, str):
            raise TypeError(f"Expected salt to be a string. Received: salt={salt!r}")
        self.key = key
        self.fractions = {s: values[s] for s in SPLITS if s in values}
        self.salt = salt
        bounds, total = [], 0.0
        for s in self.fractions:
            total += self.fractions[s]
            bounds.append(int(round(total * NUM_BUCKETS)))
        bounds[-1] = NUM_BUCKETS
        self._bounds = bounds

    @property
    def splits(self) -> list[str]:
        """The splits that get rows, in order."""
        return list(self.fractions)

    def name(self, index: int) -> str:
        """The split name of an index returned by `assign`."""
        return self.splits[index]

    def assign(self, key: tf.Tensor, na_values: Sequence[str] = ()) -> tf.Tensor:
        """int32 split index (position in `splits`) of each key of a raw key column."""
        text = to_text(key, na_values)
        bucket = tf.strings.to_hash_bucket_fast(self.salt + text if self.salt else text,
                                                NUM_BUCKETS)
        return tf.cast(tf.searchsorted(tf.constant(self._bounds, tf.int64), bucket,
                                       side="right"), tf.int32)

    def mask(self, key: tf.Tensor, split: str, na_values: Sequence[str] = ()) -> tf.Tensor:
        """Bool mask of the rows of a raw key column that belong to `split`."""
        return tf.equal(self.assign(key, na_values), self.splits.index(split))

    def get_config(self) -> dict:
        return {"key": self.key, "fractions": dict(self.fractions), "salt": self.salt}

    @classmethod
    def from_config(cls, config: Mapping) -> "HashSplit":
        if not isinstance(config, Mapping):
            raise TypeError("Expected split to be a dict {'key': column, 'fractions': {...}}. "
                            f"Received: split={config!r}")
        try:
            return cls(**config)
        except TypeError as e:
            raise ValueError(f"Bad split options: {e}. Received: split={dict(config)!r}") from e

    def __repr__(self):
        return f"HashSplit(key={self.key!r}, fractions={self.fractions})"
