"""`TableData`: a resolved spec's datasets, tasks, model inputs and preprocessing."""

from __future__ import annotations

import atexit
import os
import random
import shutil
import tempfile
import uuid
import weakref
from typing import Any, Sequence

import keras
import tensorflow as tf

from mtl_keras.data.tables.data_spec import check_cache
from mtl_keras.data.tables.feature_column import build_feature_space
from mtl_keras.data.tables.row_shuffle import shuffle_rows
from mtl_keras.data.tables.sources import source_from_config

DEFAULT_SHUFFLE_BUFFER = 10_000
# Rows a source reads, splits and converts at a time (at least one batch).
READ_ROWS = 2048


_DISK_CACHE_DIR = None
# Dataset functions built here are graph code already: AutoGraph would only
# re-read their source (and misread a lambda when the file changed).
_plain = tf.autograph.experimental.do_not_convert
# "auto" caches on disk while the estimated cache takes under this share of
# the temporary directory's free space.
AUTO_CACHE_SHARE = 0.25
# A disk cache of a shuffled split of several files keeps at most this many
# groups of files apart (file k in group k % MAX_CACHE_SHARDS).
MAX_CACHE_SHARDS = 64


def _cache_dir() -> str:
    """The process's temporary directory of disk caches (deleted at exit)."""
    global _DISK_CACHE_DIR
    if _DISK_CACHE_DIR is None:
        _DISK_CACHE_DIR = tempfile.mkdtemp(prefix="mtl_keras_cache_")
        atexit.register(shutil.rmtree, _DISK_CACHE_DIR, ignore_errors=True)
    return _DISK_CACHE_DIR


def _new_cache_path() -> str:
    """A new path in the process's directory of disk caches (not created)."""
    return os.path.join(_cache_dir(), uuid.uuid4().hex)


def _snapshot(ds: tf.data.Dataset, path: str | tf.Tensor) -> tf.data.Dataset:
    """`ds` written to `path` in its first full epoch, read from there later.

    A `tf.data` snapshot with one shard, read back in the order it was
    written. An epoch read only in part writes nothing that is read later
    (the next epoch writes again), and no warning is logged.
    """
    return ds.snapshot(path, compression=None,
                       shard_func=_plain(lambda *element: tf.constant(0, tf.int64)),
                       reader_func=_plain(lambda shards: shards.flat_map(lambda shard: shard)))


def _parts_snapshot(ds: tf.data.Dataset, path: str, parts: int,
                    seed: int | None) -> tf.data.Dataset:
    """`ds`, whose elements are `(part, element)`, cached on disk one shard per
    part (parts `k`, `k + MAX_CACHE_SHARDS`, ... share one); the elements,
    without their part.

    The first full epoch streams `ds` and writes each element to its part's
    shard (a writer thread per shard: hence the bound). Later epochs read
    the shards in a new order each epoch (seeded by `seed` and the epoch),
    four at a time, as the parts were read, taking an element from each in
    turn (local files: no need to take them as they come, so the order is
    reproducible).
    """
    shards = min(parts, MAX_CACHE_SHARDS)
    # Each epoch read from the cache shuffles the parts with its own seed,
    # `seed` and the epoch's number (a random base when `seed` is None).
    base = random.getrandbits(31) if seed is None else seed
    epochs = tf.Variable(0, dtype=tf.int64, trainable=False)

    def read_shards(written):
        # A tensor seed: the function's graph seed (a copy of the global seed)
        # is cleared so that `shuffle` takes it as the op seed alone.
        tf.compat.v1.get_default_graph().seed = None
        order = tf.constant(base, tf.int64) * 1_000_003 + epochs.assign_add(1)
        return written.shuffle(shards, seed=order).interleave(
            lambda shard: shard, cycle_length=min(shards, 4),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    cached = ds.snapshot(path, compression=None,
                         shard_func=_plain(lambda part, element: tf.cast(part, tf.int64) % shards),
                         reader_func=_plain(read_shards))
    return cached.map(_plain(lambda part, element: element))


def _delete_with(ds: tf.data.Dataset, path: str) -> tf.data.Dataset:
    """Deletes `path` when the last dataset or iterator reading `ds` goes (or at exit)."""
    weakref.finalize(ds, shutil.rmtree, path, ignore_errors=True)
    return ds


def _estimated_cache_bytes(source, rows: int, columns: int) -> int:
    """An upper estimate of a split's converted rows on disk: twice its files'
    size (a cell of text or a number takes no more converted), or 64 bytes a
    cell for sources without files."""
    files = getattr(source, "files", None)
    if files:
        return 2 * sum(tf.io.gfile.stat(f).length for f in files)
    return 64 * rows * columns


def auto_cache(source, rows: int | None, columns: int) -> str | None:
    """What `cache="auto"` means for one pipeline: `"disk"` or None.

    None when the estimated cache (twice the files' size) would take
    `AUTO_CACHE_SHARE` or more of the temporary directory's free space.
    """
    free = shutil.disk_usage(tempfile.gettempdir()).free
    needed = _estimated_cache_bytes(source, rows or 0, columns)
    return "disk" if needed < AUTO_CACHE_SHARE * free else None


class TableData:
    """What `DataSpec.load()` returns: everything a model needs from a table.

    * `tasks`: one `mtl_keras.Task` per target column;
    * `inputs()`: one `keras.Input` of shape `(1,)` per feature, named by the
      feature's `input` name, with the raw dtype (float32, int64, string);
    * `preprocessing()`: `{input: layer}` for the builders' `preprocessing=`
      argument (each layer is that feature's part of a `keras.utils.FeatureSpace`:
      normalization, lookup or hashing, then one-hot), so the model itself
      takes raw column values;
    * `encoder()`: the whole FeatureSpace (crosses included) as one model from
      the input dict to one vector;
    * `dataset(split)`: a streaming `tf.data.Dataset` of
      `(features, {task: label})` batches for `MultiTaskModel.fit`.

    Args:
        spec: A resolved `DataSpec` (`spec.is_resolved`).
    """

    def __init__(self, spec):
        if not spec.is_resolved:
            raise ValueError("Expected a resolved DataSpec (every feature's type and state, "
                             "every target's kind and classes): call `spec.load()`.")
        self.spec = spec
        self.tasks = [t.to_task() for t in spec.targets]

    @property
    def features(self) -> list:
        """The resolved `FeatureColumn`s."""
        return list(self.spec.features)

    @property
    def targets(self) -> list:
        """The resolved `TargetColumn`s."""
        return list(self.spec.targets)

    # ------------------------------------------------------------------ model
    def inputs(self) -> dict[str, keras.KerasTensor]:
        """Fresh `keras.Input`s, one per feature, keyed by input name."""
        return {f.input: keras.Input((1,), dtype=f.input_dtype, name=f.input)
                for f in self.spec.features}

    def feature_space(self, output_mode: str = "concat") -> keras.utils.FeatureSpace:
        """A fresh `keras.utils.FeatureSpace` with the resolved state (no adapt needed)."""
        return build_feature_space(self.spec.features, self.spec.crosses, output_mode)

    def encoder(self, name: str = "feature_space") -> keras.Model:
        """The FeatureSpace as a model: input dict -> one encoded vector `(batch, d)`."""
        space = self.feature_space("concat")
        return keras.Model(space.get_inputs(), space.get_encoded_features(), name=name)

    def preprocessing(self) -> dict[str, keras.Model]:
        """`{input: layer}` per feature for a builder's `preprocessing=` argument.

        Raises:
            ValueError: If the spec has crosses: a cross reads several inputs,
                which per-input layers cannot; use `encoder()` on the input dict.
        """
        if self.spec.crosses:
            raise ValueError(
                "Expected no feature crosses for per-input preprocessing: a cross reads "
                f"several inputs. Received crosses {[c.columns for c in self.spec.crosses]}. "
                "Use `encoder()`, which maps the whole input dict to one vector."
            )
        space = self.feature_space("dict")
        inputs, encoded = space.get_inputs(), space.get_encoded_features()
        return {name: keras.Model(inputs[name], encoded[name], name=f"{name}_encoding")
                for name in inputs}

    # ------------------------------------------------------------------- data
    def dataset(self, split: str = "train", batch_size: int = 32, shuffle: bool | None = None,
                seed: int = 0, shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER,
                tasks: Sequence[str] | None = None,
                input_context: tf.distribute.InputContext | None = None,
                cache: str | bool | None = None) -> tf.data.Dataset:
        """Streams a split as `(features, {task: label})` batches.

        Rows are read, parsed and converted by `tf.data` in parallel, in
        chunks, and prefetched; shuffling permutes windows of `shuffle_buffer`
        consecutive rows (`shuffle_rows`, a new permutation and file order
        each epoch), so memory does not grow with the table.

        Args:
            split: `"train"`, `"validation"` or `"test"` (one the spec has).
            batch_size: Rows per batch.
            shuffle: Shuffle (seeded, new order each epoch); default: train only.
            seed: Seed of the shuffles.
            shuffle_buffer: Rows per shuffled window.
            tasks: Only these tasks' labels (default: every task), for a model
                of some of the tasks.
            input_context: For `strategy.distribute_datasets_from_function`
                (e.g. `MultiWorkerMirroredStrategy`): this worker reads its
                shard of the files (every `num_input_pipelines`-th, from
                `input_pipeline_id`; every n-th batch when there are fewer
                files than workers) in batches of
                `input_context.get_per_replica_batch_size(batch_size)`;
                `batch_size` is then the global batch.
            cache: `"memory"`: keep the split's converted rows in memory
                after the first epoch (later epochs skip reading and
                parsing; they are still shuffled, but the files of a
                shuffled split come in the first epoch's order); `"disk"`:
                write them to a temporary directory in the first epoch and
                read them from there later (memory stays flat; the files
                are deleted with the dataset; a shuffled split of several
                files keeps each file apart and reads them in a new order
                each epoch, seeded by `seed`, unless the dataset is made in
                a distribution strategy's scope: then in the first epoch's
                order); `"auto"`: `"disk"` unless the
                disk lacks room (`auto_cache`); False: read the files every
                epoch; None (default): the spec's `cache`. A first epoch
                read only in part is not kept.

        Example (each worker runs the same script with its `TF_CONFIG`):

            strategy = tf.distribute.MultiWorkerMirroredStrategy()
            train = strategy.distribute_datasets_from_function(
                lambda ctx: data.dataset("train", 256, input_context=ctx))
        """
        if split not in self.spec.splits:
            raise ValueError(f"Expected a split among {self.spec.splits}. Received: split={split!r}")
        targets = self._targets(tasks)
        cache = self.spec.cache if cache is None else check_cache(cache, allow_false=True)
        shuffle = split == "train" if shuffle is None else shuffle
        read = next(r for r in self.spec.reads() if split in r.splits)
        shard = None
        if input_context is not None:
            batch_size = input_context.get_per_replica_batch_size(batch_size)
            shard = (input_context.num_input_pipelines, input_context.input_pipeline_id)
        ds = self._pipeline(read.source, batch_size, labels=targets,
                            shuffle_buffer=shuffle_buffer if shuffle else 0, seed=seed,
                            split=None if isinstance(read.split, str) else (read.split, split),
                            shard=shard, cache=cache, rows=(self.spec.rows or {}).get(split))
        if shard is not None:  # sharded here: tf.distribute must not shard it again
            options = tf.data.Options()
            options.experimental_distribute.auto_shard_policy = \
                tf.data.experimental.AutoShardPolicy.OFF
            ds = ds.with_options(options)
        return ds

    def _targets(self, tasks):
        if tasks is None:
            return list(self.spec.targets)
        by_task = {t.task: t for t in self.spec.targets}
        if isinstance(tasks, str) or not all(isinstance(t, str) for t in tasks):
            raise TypeError(f"Expected tasks to be a list of task names. Received: {tasks!r}")
        unknown = [t for t in tasks if t not in by_task]
        if unknown or not tasks:
            raise ValueError(f"Expected task names among {list(by_task)}. "
                             f"Received: tasks={list(tasks)!r}")
        return [by_task[t] for t in tasks]

    def read(self, source: Any, batch_size: int = 256, labels: bool = False,
             keep: Sequence[str] = ()) -> tf.data.Dataset:
        """Streams any source (e.g. new rows to predict) through this spec, in file order.

        Args:
            source: A path or glob, a source dict, a DataFrame or a `TableSource`.
            batch_size: Rows per batch.
            labels: Yield `(features, labels)` (target columns required) instead
                of features only.
            keep: Columns passed through as they are in the file (e.g. an id
                for the predictions): each element then ends with a dict
                `{column: raw 1-D tensor}` (text for a CSV, the file's type
                for Parquet), row-aligned with the features.

        Raises:
            ValueError: A column the spec (or `keep`) names is not in the source
                (the message lists the source's columns).
        """
        source = source_from_config(source)
        if isinstance(keep, str) or not all(isinstance(c, str) for c in keep):
            raise TypeError(f"Expected keep to be a list of column names. Received: {keep!r}")
        columns = {f.column: "feature" for f in self.spec.features}
        if labels:
            columns.update({t.column: f"target of task {t.task!r}" for t in self.spec.targets})
        columns.update({c: "kept column" for c in keep if c not in columns})
        source.require(list(columns), columns)
        return self._pipeline(source, batch_size, labels=self.targets if labels else None,
                              shuffle_buffer=0, seed=None, split=None, keep=list(keep))

    def _pipeline(self, source, batch_size, labels, shuffle_buffer, seed, split, keep=(),
                  shard=None, cache=None, rows=None):
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"Expected batch_size to be an int >= 1. Received: {batch_size!r}")
        na_values = self.spec.na_values
        features = sorted(self.spec.features, key=lambda f: f.input)
        targets = labels or []
        label_fns = {t.task: (t.column, t.converter(na_values)) for t in targets}
        columns = [f.column for f in features] + [t.column for t in targets] + list(keep)
        if split is not None:
            columns.append(split[0].key)
        # Rows are read, split and converted in chunks of at least `READ_ROWS`
        # (vectorized ops, few dataset elements), shuffled after conversion.
        if cache == "auto":
            cache = auto_cache(source, rows, len(columns))
        # A shuffled split of several parts (files) reads them in a new order
        # each epoch. A disk cache then keeps each part apart (one snapshot
        # shard per part), so that later epochs read them in a new order too.
        # A memory cache, and a disk cache of a worker that keeps every n-th
        # batch of every part (fewer parts than workers), keep the first
        # epoch's order: the parts are then read in order. So does a disk
        # cache made in a distribution strategy's scope: the epoch counter
        # would be a distributed variable, made by some workers only.
        parts = source.parts_read(shard)
        by_part = (cache == "disk" and shuffle_buffer > 0 and parts > 1
                   and source.shards_by_part(shard)
                   and not tf.distribute.has_strategy())
        # A split's rows are kept before conversion when it is the smaller part
        # (convert few rows), after it otherwise (mask numbers, not text cells:
        # at 90 % of the rows about 0.3 µs per row cheaper).
        mask_first = split is not None and split[0].fractions[split[1]] < 0.5

        def convert(batch):
            x = {f.input: f.convert(batch[f.column], na_values) for f in features}
            element = (x,) if labels is None else (
                x, {task: fn(batch[column]) for task, (column, fn) in label_fns.items()})
            if keep:
                element += ({c: batch[c] for c in keep},)
            return element if len(element) > 1 else x

        @_plain
        def read_rows(batch):
            if split is None:
                return convert(batch)
            hash_split, name = split
            mask = hash_split.mask(batch[hash_split.key], name, na_values)
            if mask_first:
                return convert({c: tf.boolean_mask(v, mask) for c, v in batch.items()})
            return tf.nest.map_structure(lambda t: tf.boolean_mask(t, mask), convert(batch))

        read = dict(columns=list(dict.fromkeys(columns)), batch_size=max(batch_size, READ_ROWS),
                    seed=seed, shard=shard)
        if by_part:
            ds = source.raw_dataset(**read, shuffle_parts=True, per_part=lambda part, batches:
                                    batches.map(_plain(lambda batch: (part, batch))))
            ds = ds.map(_plain(lambda part, batch: (part, read_rows(batch))),
                        num_parallel_calls=tf.data.AUTOTUNE)
            path = _new_cache_path()
            ds = _delete_with(_parts_snapshot(ds, path, parts, seed), path)
        else:
            ds = source.raw_dataset(**read, shuffle_parts=shuffle_buffer > 0 and cache is None)
            ds = ds.map(read_rows, num_parallel_calls=tf.data.AUTOTUNE)
            if cache == "memory":
                ds = ds.cache()
            elif cache == "disk":
                path = _new_cache_path()
                ds = _delete_with(_snapshot(ds, path), path)
        if shuffle_buffer > 0:
            ds = shuffle_rows(ds, shuffle_buffer, seed)
        return ds.rebatch(batch_size).prefetch(tf.data.AUTOTUNE)

    def save_spec(self, path: str) -> str:
        """Writes the resolved spec as JSON (see `DataSpec.save`)."""
        return self.spec.save(path)

    def __repr__(self):
        return (f"TableData(features={[f.input for f in self.spec.features]}, "
                f"tasks={self.tasks}, rows={self.spec.rows})")
