"""Table sources: where the rows of a table come from, read as `tf.data`.

A `TableSource` names its columns and their raw dtypes (`"string"` or
`"float64"`, see `values.py`) and reads them as a `tf.data.Dataset` of
batches: dicts `{column: 1-D tensor}`. Files are read by `tf.data` (several
shards interleaved, parsed in parallel), never loaded whole. With
`with_location=True` each batch also carries `"__part__"` (which file) and
`"__row__"` (which row or line in it), so a bad cell can be reported where
it is.

`source_from_config` turns what a user writes in a spec into a source:

* a path or glob (`"data/train-*.csv"`, `"x.parquet"`, `"y.tfrecord"`): the
  kind from the extension (`.csv`, `.csv.gz`, `.parquet`, `.pq`);
* a dict `{"type": "csv" | "parquet" | "tfrecord" | "tfds", ...}` with the
  options of that source (TFRecord needs a `schema`, TFDS a `name`);
* a `pandas.DataFrame` (from Python);
* a `TableSource` itself.
"""

from __future__ import annotations

import abc
import os
from typing import Any, Callable, Sequence

import tensorflow as tf

LOCATION_KEYS = ("__part__", "__row__")


class TableSource(abc.ABC):
    """Base class of table sources.

    Subclasses set `kind`, implement `_read_columns` (names and raw dtypes,
    checked), `_part_dataset` (the rows of one part, unbatched or batched) and
    `location`, and the config round trip.
    """

    kind = "table"

    def __init__(self):
        self._columns = None

    # ----------------------------------------------------------------- schema
    def columns(self) -> dict[str, str]:
        """`{column: raw dtype}` of this source, checked once (then cached).

        Raises:
            ValueError: No file matches, files whose columns differ, a file
                without a header, and the like (each subclass says).
        """
        if self._columns is None:
            self._columns = dict(self._read_columns())
        return self._columns

    @abc.abstractmethod
    def _read_columns(self) -> dict[str, str]:
        ...

    @abc.abstractmethod
    def describe(self) -> str:
        """A short description for messages, e.g. `"CSV files data/*.csv (3 files)"`."""

    @abc.abstractmethod
    def location(self, part: int, row: int) -> str:
        """Where row `row` of part `part` is, for messages (e.g. `"a.csv line 7"`)."""

    def require(self, columns: Sequence[str], what: dict[str, str] | None = None) -> None:
        """Raises `ValueError` naming the columns that this source lacks.

        Args:
            columns: Column names the spec uses.
            what: Optional `{column: role}` (e.g. `"feature"`, `"target of task y"`)
                to say why each is needed.
        """
        available = self.columns()
        missing = [c for c in columns if c not in available]
        if missing:
            roles = ", ".join(
                f"{c!r} ({what[c]})" if what and c in what else repr(c) for c in missing
            )
            raise ValueError(
                f"Expected the column(s) {roles} in {self.describe()}. Received a table "
                f"whose columns are {list(available)}."
            )

    # ------------------------------------------------------------------- rows
    @property
    @abc.abstractmethod
    def num_parts(self) -> int:
        """Number of parts (files) that are read and interleaved."""

    def raw_dataset(
        self,
        columns: Sequence[str],
        batch_size: int,
        shuffle_buffer: int = 0,
        seed: int | None = None,
        with_location: bool = False,
        shard: tuple[int, int] | None = None,
        shuffle_parts: bool | None = None,
        per_part: Callable[[tf.Tensor, tf.data.Dataset], tf.data.Dataset] | None = None,
    ) -> tf.data.Dataset:
        """Batches `{column: 1-D tensor}` of the raw values of `columns`.

        Args:
            columns: The columns to read (a subset of `columns()`).
            batch_size: Rows per batch (the last may be smaller); a CSV
                source's batches are blocks of the file that hold about this
                many lines.
            shuffle_buffer: If > 0, parts are read in a shuffled order (seeded,
                new each epoch) and rows are shuffled in a buffer of this many.
            seed: Seed of the shuffles.
            with_location: Add `"__part__"` (int32) and `"__row__"` (int64).
                Parts are then read one after the other, in order.
            shard: `(num_shards, index)`: read only this shard's rows, for one
                worker of several. With at least `num_shards` parts, whole
                parts (files) `index, index + num_shards, ...`; otherwise every
                `num_shards`-th batch, from `index`.
            shuffle_parts: Read the parts in a shuffled order (seeded, new
                each epoch); default: when `shuffle_buffer > 0`.
            per_part: `per_part(part, batches)`, a function from one part's
                index (an int64 scalar tensor) and its parsed batches to a
                dataset, applied inside the interleave of the parts, e.g. to
                tag each batch with its part (`TableData`'s disk cache keeps
                the parts apart that way). Needs `shuffle_buffer=0`; with
                fewer parts than shards its elements must stay batches.

        Returns:
            A `tf.data.Dataset` of dicts of 1-D tensors.
        """
        self.require(columns)
        if per_part is not None and shuffle_buffer > 0:
            raise ValueError("Expected shuffle_buffer=0 with per_part (rows shuffled across "
                             f"parts cannot be handed to one part). Received: "
                             f"shuffle_buffer={shuffle_buffer!r}")
        columns = list(columns)
        num_parts = self.num_parts
        parts = tf.data.Dataset.range(num_parts)
        by_part = False
        if shard is not None:
            count, index = shard
            if not (isinstance(count, int) and isinstance(index, int) and 0 <= index < count):
                raise ValueError("Expected shard=(num_shards, index) with 0 <= index < "
                                 f"num_shards. Received: shard={shard!r}")
            by_part = self.shards_by_part(shard)
            if by_part:
                parts = parts.shard(count, index)
            num_parts = self.parts_read(shard)
        if shuffle_parts is None:
            shuffle_parts = shuffle_buffer > 0
        if shuffle_parts:
            parts = parts.shuffle(num_parts, seed=seed, reshuffle_each_iteration=True)

        @tf.autograph.experimental.do_not_convert
        def read(part):
            ds = self._part_dataset(part, columns, batch_size, with_location)
            if per_part is None:
                return ds
            return per_part(part, self._to_batches(ds, columns, batch_size, 0, None,
                                                   with_location))

        if with_location or num_parts == 1:
            ds = parts.flat_map(read)
        else:
            ds = parts.interleave(read, cycle_length=min(num_parts, 4),
                                  num_parallel_calls=tf.data.AUTOTUNE,
                                  deterministic=not shuffle_parts)
        if per_part is None:
            ds = self._to_batches(ds, columns, batch_size, shuffle_buffer, seed, with_location)
        if shard is not None and not by_part:  # batches of exactly batch_size rows
            ds = ds.rebatch(batch_size).shard(*shard)
        return ds

    def shards_by_part(self, shard: tuple[int, int] | None) -> bool:
        """Whether `raw_dataset(..., shard=shard)` reads whole parts.

        With at least `num_shards` parts, a shard reads the parts `index,
        index + num_shards, ...`; with fewer, every part, and keeps every
        `num_shards`-th batch. Without a shard: True (every part, whole).
        """
        return shard is None or self.num_parts >= shard[0]

    def parts_read(self, shard: tuple[int, int] | None = None) -> int:
        """How many parts `raw_dataset(..., shard=shard)` reads (see `shards_by_part`)."""
        if shard is None or not self.shards_by_part(shard):
            return self.num_parts
        count, index = shard
        return len(range(index, self.num_parts, count))

    @abc.abstractmethod
    def _part_dataset(self, part: tf.Tensor, columns: list[str], batch_size: int,
                      with_location: bool) -> tf.data.Dataset:
        """Rows of one part: unbatched elements or batches (see `_to_batches`).

        With `with_location`, batches of at most `batch_size` rows of this part
        (see `number_rows`).
        """

    def _to_batches(self, ds, columns, batch_size, shuffle_buffer, seed, with_location):
        """Default: `_part_dataset` yields batches; shuffled rows through a buffer."""
        if shuffle_buffer > 0:
            ds = ds.unbatch().shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
            ds = ds.batch(batch_size)
        return ds

    # ---------------------------------------------------------- serialization
    @abc.abstractmethod
    def get_config(self) -> dict:
        """A JSON-serializable dict, `{"type": kind, ...}`, that `source_from_config` reads."""

    @classmethod
    def from_config(cls, config: dict) -> "TableSource":
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({self.describe()})"


def number_rows(batches: tf.data.Dataset, part: tf.Tensor, first: int = 0) -> tf.data.Dataset:
    """Adds each row's part and number to a dataset of batches of one part.

    Elements become `(batch, parts, rows)`: `parts` is `part` (int32) and
    `rows` counts the rows from `first` (int64). (Counting per batch with
    `scan` costs nothing; zipping rows with `Dataset.counter` costs tens of
    microseconds per row.)
    """
    part = tf.cast(part, tf.int32)

    def step(offset, batch):
        n = tf.shape(tf.nest.flatten(batch)[0], out_type=tf.int64)[0]
        return offset + n, (batch, tf.fill([n], part), offset + tf.range(n))

    return batches.scan(tf.constant(first, tf.int64), step)


def expand_paths(paths: str | Sequence[str], base_dir: str | None = None,
                 what: str = "paths") -> list[str]:
    """Expands paths and globs (sorted, each pattern must match a file).

    Args:
        paths: A path or glob, or a list of them.
        base_dir: Directory that relative paths are relative to (e.g. the run
            config's directory); the current directory when None.
        what: The argument's name, for messages.

    Raises:
        ValueError: No path, or a pattern that matches no file.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not isinstance(paths, (list, tuple)) or not paths:
        raise ValueError(f"Expected a path, a glob or a non-empty list of them. "
                         f"Received: {what}={paths!r}")
    files = []
    for pattern in paths:
        pattern = os.fspath(pattern)
        if base_dir is not None and "://" not in pattern and not os.path.isabs(pattern):
            pattern = os.path.join(base_dir, pattern)
        matches = sorted(tf.io.gfile.glob(pattern))
        matches = [m for m in matches if not tf.io.gfile.isdir(m)]
        if not matches:
            raise ValueError(
                f"Expected {what} to match at least one file. Received: {pattern!r}, "
                "which matches no file."
            )
        files.extend(m for m in matches if m not in files)
    return files


_EXTENSIONS = {".csv": "csv", ".gz": "csv", ".tsv": "csv", ".parquet": "parquet",
               ".pq": "parquet", ".tfrecord": "tfrecord", ".tfrecords": "tfrecord"}


def source_from_config(value: Any, base_dir: str | None = None) -> TableSource:
    """A `TableSource` from a path/glob, a config dict, a DataFrame or a source.

    Args:
        value: What the spec names as a source (see the module docstring).
        base_dir: Directory that relative paths are relative to.

    Raises:
        ValueError: An unknown source type or file extension, or bad options.
    """
    from mtl_keras.data.tables.csv_source import CsvSource
    from mtl_keras.data.tables.dataframe_source import DataFrameSource
    from mtl_keras.data.tables.parquet_source import ParquetSource
    from mtl_keras.data.tables.tfds_source import TfdsSource
    from mtl_keras.data.tables.tfrecord_source import TFRecordSource

    kinds = {"csv": CsvSource, "parquet": ParquetSource, "tfrecord": TFRecordSource,
             "tfds": TfdsSource, "dataframe": DataFrameSource}
    if isinstance(value, TableSource):
        return value
    if type(value).__name__ == "DataFrame":
        return DataFrameSource(value)
    if isinstance(value, (str, os.PathLike)):
        value = {"paths": os.fspath(value)}
    if not isinstance(value, dict):
        raise TypeError(
            "Expected a source: a path or glob, a dict with a 'type', a pandas DataFrame "
            f"or a TableSource. Received: {value!r} of type {type(value).__name__}"
        )
    config = dict(value)
    kind = config.pop("type", None)
    if kind is None:
        paths = config.get("paths")
        first = paths if isinstance(paths, str) else (paths[0] if paths else "")
        name = os.fspath(first).lower()
        kind = next((k for ext, k in _EXTENSIONS.items() if name.endswith(ext)), None)
        if kind is None:
            raise ValueError(
                "Expected a 'type' for a source whose file extension is not one of "
                f"{sorted(_EXTENSIONS)}. Received: {value!r}"
            )
    if kind not in kinds:
        raise ValueError(
            f"Expected a source type among {sorted(kinds)}. Received: type={kind!r}"
        )
    cls = kinds[kind]
    if cls in (CsvSource, ParquetSource, TFRecordSource):
        config["base_dir"] = base_dir
    try:
        return cls(**config)
    except TypeError as e:  # unknown or missing options
        raise ValueError(f"Bad options for a {kind} source: {e}. Received: {value!r}") from e
