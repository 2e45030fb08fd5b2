"""TFRecord files of `tf.train.Example` records as a table source."""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import tensorflow as tf

from mtl_keras.data.tables.sources import TableSource, expand_paths, number_rows

SCHEMA_TYPES = {"float": tf.float32, "int": tf.int64, "string": tf.string}


class TFRecordSource(TableSource):
    """Rows of TFRecord files holding `tf.train.Example`s, one scalar per column.

    The schema names each column and its `tf.train.Feature` list type. A
    feature absent from an example is a missing cell (NaN for numbers, `""`
    for text); a feature with more than one value is an error.

    Args:
        paths: A path or glob, or a list of them (shards are read interleaved).
        schema: `{column: "float" | "int" | "string"}`.
        compression: `None`, `"GZIP"` or `"ZLIB"`.
        base_dir: Directory that relative paths are relative to.
    """

    kind = "tfrecord"

    def __init__(self, paths: str | Sequence[str], schema: Mapping[str, str],
                 compression: str | None = None, base_dir: str | None = None):
        super().__init__()
        patterns = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths or [])
        if not patterns or not all(isinstance(p, (str, os.PathLike)) for p in patterns):
            raise ValueError(f"Expected paths: a path or glob or a non-empty list of them. "
                             f"Received: paths={paths!r}")
        self.paths = [os.path.join(base_dir, os.fspath(p))
                      if base_dir and "://" not in os.fspath(p) else os.fspath(p)
                      for p in patterns]
        if not isinstance(schema, Mapping) or not schema:
            raise ValueError("Expected schema: a non-empty dict {column: 'float' | 'int' | "
                             f"'string'}}. Received: schema={schema!r}")
        bad = {k: v for k, v in schema.items() if v not in SCHEMA_TYPES}
        if bad:
            raise ValueError(f"Expected schema types among {sorted(SCHEMA_TYPES)}. "
                             f"Received: {bad}")
        self.schema = dict(schema)
        if compression not in (None, "GZIP", "ZLIB"):
            raise ValueError("Expected compression None, 'GZIP' or 'ZLIB'. "
                             f"Received: compression={compression!r}")
        self.compression = compression
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
        return f"TFRecord {', '.join(self.paths)}" + (f" ({n} files)" if n and n > 1 else "")

    def location(self, part: int, row: int) -> str:
        return f"{self.files[part]} record index {row}"

    def _read_columns(self) -> dict[str, str]:
        self.files  # noqa: B018 (the globs must match)
        return {c: "string" if t == "string" else "float64" for c, t in self.schema.items()}

    def _part_dataset(self, part, columns, batch_size, with_location):
        path = tf.gather(tf.constant(self.files), part)
        records = tf.data.TFRecordDataset(path, compression_type=self.compression or "")
        if not with_location:
            return records
        return number_rows(records.batch(batch_size), part)

    def _to_batches(self, ds, columns, batch_size, shuffle_buffer, seed, with_location):
        if shuffle_buffer > 0:
            ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        spec = {c: tf.io.RaggedFeature(SCHEMA_TYPES[self.schema[c]]) for c in columns}

        def parse(records, parts=None, rows=None):
            parsed = tf.io.parse_example(records, spec)
            batch = {}
            for c in columns:
                values = parsed[c]
                lengths = values.row_lengths()
                check = tf.debugging.assert_less_equal(
                    lengths, tf.constant(1, lengths.dtype),
                    message=f"Expected at most one value of feature {c!r} per example in "
                            f"{self.describe()}. Received an example with several")
                with tf.control_dependencies([check]):
                    if self.schema[c] == "string":
                        dense = values.to_tensor(default_value="", shape=[None, 1])
                    else:
                        dense = tf.cast(values, tf.float64).to_tensor(
                            default_value=float("nan"), shape=[None, 1])
                batch[c] = tf.reshape(dense, [-1])
            if parts is not None:
                batch["__part__"], batch["__row__"] = parts, rows
            return batch

        if not with_location:
            ds = ds.batch(batch_size)
        return ds.map(tf.autograph.experimental.do_not_convert(lambda *e: parse(*e)),
                      num_parallel_calls=tf.data.AUTOTUNE)

    def get_config(self) -> dict:
        return {"type": self.kind, "paths": list(self.paths), "schema": dict(self.schema),
                "compression": self.compression}

    @classmethod
    def from_config(cls, config):
        return cls(**{k: v for k, v in config.items() if k != "type"})
