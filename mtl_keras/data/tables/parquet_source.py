"""Parquet files (one or several shards) as a table source, streamed by record batches."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import tensorflow as tf

from mtl_keras.data.tables.sources import TableSource, expand_paths


def _raw_dtype(arrow_type) -> str | None:
    """`"float64"` for numbers and booleans, `"string"` for text and dates, else None."""
    import pyarrow as pa

    t = arrow_type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
            or pa.types.is_decimal(t)):
        return "float64"
    if (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_temporal(t)
            or pa.types.is_string_view(t)):
        return "string"
    return None


def column_to_numpy(array, raw_dtype: str) -> np.ndarray:
    """A pyarrow array as float64 (NaN for null) or an object array of str ("" for null)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if raw_dtype == "float64":
        return np.asarray(pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False),
                          dtype=np.float64)
    text = pc.fill_null(pc.cast(array, pa.string()), "")
    return np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)


class ParquetSource(TableSource):
    """Rows of Parquet files, read one record batch at a time (never a whole file).

    Integer, float, boolean and decimal columns are read as float64 (null is
    NaN); string, dictionary and date/time columns as text (null is `""`).
    Nested columns (lists, structs) are not table columns and are left out.

    Args:
        paths: A path or glob, or a list of them (shards are read interleaved).
        base_dir: Directory that relative paths are relative to.
    """

    kind = "parquet"

    def __init__(self, paths: str | Sequence[str], base_dir: str | None = None):
        super().__init__()
        patterns = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths or [])
        if not patterns or not all(isinstance(p, (str, os.PathLike)) for p in patterns):
            raise ValueError(f"Expected paths: a path or glob or a non-empty list of them. "
                             f"Received: paths={paths!r}")
        self.paths = [os.path.join(base_dir, os.fspath(p))
                      if base_dir and "://" not in os.fspath(p) else os.fspath(p)
                      for p in patterns]
        self._files = None

    @property
    def files(self) -> list[str]:
        if self._files is None:
            self._files = expand_paths(self.paths, what="paths")
        return self._files

    @property
    def num_parts(self) -> int:
        return len(self.files)

    def describe(self) -> str:
        n = len(self._files) if self._files is not None else None
        return f"Parquet {', '.join(self.paths)}" + (f" ({n} files)" if n and n > 1 else "")

    def location(self, part: int, row: int) -> str:
        return f"{self.files[part]} row index {row}"

    def _schema(self, path):
        import pyarrow.parquet as pq

        try:
            return pq.read_schema(path)
        except Exception as e:  # ArrowInvalid and friends: not a Parquet file
            raise ValueError(f"Expected a Parquet file. Received: {path} ({e})") from e

    def _read_columns(self) -> dict[str, str]:
        columns = None
        for path in self.files:
            schema = self._schema(path)
            got = {f.name: _raw_dtype(f.type) for f in schema}
            got = {k: v for k, v in got.items() if v is not None}
            if columns is None:
                columns, first = got, path
            elif list(got) != list(columns) or got != columns:
                missing = [c for c in columns if c not in got]
                extra = [c for c in got if c not in columns]
                retyped = [c for c in got if c in columns and got[c] != columns[c]]
                raise ValueError(
                    "Expected every file of a source to have the same columns. Received: "
                    f"{first}: {list(columns)}; {path}: {list(got)} (missing {missing}, "
                    f"extra {extra}, other types {retyped})."
                )
        return columns

    def _part_dataset(self, part, columns, batch_size, with_location):
        dtypes = self.columns()
        files = self.files

        def batches(index):
            import pyarrow.parquet as pq

            start = 0
            with pq.ParquetFile(files[int(index)]) as f:
                for record_batch in f.iter_batches(batch_size=batch_size, columns=columns):
                    out = {c: column_to_numpy(record_batch.column(c), dtypes[c])
                           for c in columns}
                    n = record_batch.num_rows
                    if with_location:
                        out["__part__"] = np.full(n, int(index), np.int32)
                        out["__row__"] = np.arange(start, start + n, dtype=np.int64)
                    start += n
                    yield out

        signature = {c: tf.TensorSpec([None], tf.string if dtypes[c] == "string" else tf.float64)
                     for c in columns}
        if with_location:
            signature["__part__"] = tf.TensorSpec([None], tf.int32)
            signature["__row__"] = tf.TensorSpec([None], tf.int64)
        return tf.data.Dataset.from_generator(batches, args=(part,),
                                              output_signature=signature)

    def get_config(self) -> dict:
        return {"type": self.kind, "paths": list(self.paths)}

    @classmethod
    def from_config(cls, config):
        return cls(**{k: v for k, v in config.items() if k != "type"})
