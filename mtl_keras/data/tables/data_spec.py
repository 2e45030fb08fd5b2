"""`DataSpec`: which table, which columns are features, which are tasks.

The spec is the `data:` section of a run config and the same object in
Python. `DataSpec.from_dict` reads it (checking every field before any file
is opened), `load()` resolves it on the data in one pass per source and
returns a `TableData` (datasets, tasks, model inputs and preprocessing), and
`to_dict()` / `save()` write the *resolved* spec: every feature's type and
state (mean, variance, vocabulary), every task's kind and classes. That file
is meant to be read and edited; loaded back, it rebuilds the same
preprocessing and tasks without reading the training data again.
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping, Sequence

from mtl_keras.data.tables.feature_column import FeatureColumn, FeatureCross
from mtl_keras.data.tables.hash_split import SPLITS, HashSplit
from mtl_keras.data.tables.names import check_inputs_and_tasks, check_unique
from mtl_keras.data.tables.sources import source_from_config
from mtl_keras.data.tables.target_column import TargetColumn
from mtl_keras.data.tables.values import DEFAULT_NA_VALUES, check_na_values

SPEC_FILENAME = "data_spec.json"
_INT_OPTIONS = {"sample_rows": 1, "max_categories": 1, "max_integer_categories": 0,
                "max_inferred_classes": 2, "hashing_dim": 1}


def _columns(value, cls, what) -> list:
    """A list of `cls` from names, configs, `cls` objects, or a dict keyed by column."""
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, (list, tuple, Mapping)):
        raise TypeError(f"Expected {what} as a list of column names or a dict keyed by column. "
                        f"Received: {what}={value!r}")
    items = value.items() if isinstance(value, Mapping) else [(None, v) for v in value]
    out = []
    for column, v in items:
        if isinstance(v, cls):
            out.append(v)
            continue
        if column is None:
            config = {"column": v} if isinstance(v, str) else dict(v)
        else:
            key = "kind" if cls is TargetColumn else "type"
            config = {} if v is None else ({key: v} if isinstance(v, str) else dict(v))
            config = {"column": column, **config}
        try:
            out.append(cls.from_config(config))
        except TypeError as e:
            raise ValueError(f"Bad options for {what[:-1]} {config.get('column')!r}: {e}") from e
    return out


CACHES = ("auto", "memory", "disk")


def check_cache(cache, allow_false: bool = False):
    """Validates a cache option: `"auto"`, `"memory"`, `"disk"` or None (and False where allowed).

    Returns the option, with False (read the files every epoch) as None.
    """
    if cache is None or cache in CACHES or (allow_false and cache is False):
        return cache or None
    options = ["'auto' (on disk when the temporary directory has room)",
               "'memory' (keep the converted rows in memory after the first epoch)",
               "'disk' (write them to a temporary directory in the first epoch)",
               "None" + (" or False" if allow_false else "") + " (read the files every epoch)"]
    raise ValueError(f"Expected cache {', '.join(options)}. Received: cache={cache!r}")


class DataSpec:
    """A table's sources, feature columns and target columns.

    Sources: either `train` (and optionally `validation`, `test`), or one
    `source` cut by `split` (a `HashSplit` or its dict). A source is a path
    or glob, a dict with a `type` (see `sources.source_from_config`), a
    pandas DataFrame or a `TableSource`.

    Args:
        targets: The target columns: names, `TargetColumn`s, or a dict
            `{column: kind | options | None}`. Each becomes a task.
        features: The feature columns, in the same forms (`{column: type |
            options | None}`); default: every column that is not a target,
            the split key or in `exclude`.
        train, validation, test: Separate sources per split.
        source, split: One source and its deterministic split by key.
        crosses: Feature crosses: `[a, b]` lists or `FeatureCross` dicts.
        exclude: Columns never used as features.
        na_values: Cell texts that mark a missing value.
        invalid_values: `"error"` (default): a cell of a numeric column that is
            no number stops loading with its place; `"missing"`: read as missing.
        sample_rows: Training rows read to infer feature types.
        max_categories: A text feature with more distinct values in the
            sample is hashed rather than looked up.
        max_integer_categories: A whole-number feature with at most this many
            distinct values in the sample is categorical, else numeric.
        max_inferred_classes: A whole-number target with at most this many
            distinct labels is a class target, else regression.
        hashing_dim: Bins of hashed features without `num_bins`.
        rows: Rows per split found when resolved (informative).
        cache: What `TableData.dataset` does with a split's converted rows
            after the first epoch. `"auto"` (default): `"disk"` when the
            temporary directory has room (under a quarter of its free space
            for twice the files' size), else None. `"disk"`: write them to a
            temporary directory during the first epoch and read them back
            later (memory stays flat; the files are deleted with the
            dataset); a shuffled split of several files is kept one snapshot
            shard per file, and later epochs read the files in a new order
            each epoch, as parsing would. `"memory"`: keep them in memory
            (for tables that fit in memory; the files of a shuffled split
            are then read in the same order every epoch). None: read, parse
            and convert the files every epoch. On 2 CPU cores a small
            model's step is blocked on input under 5 % of the time either
            way, but parsing every epoch takes CPU from it: it runs 8-22 %
            slower than on batches in memory, 0-8 % with a cache
            (BENCHMARKS.md, "Input pipeline").
        base_dir: Directory that relative file paths are relative to.

    Example:

    >>> import pandas as pd
    >>> from mtl_keras.data import DataSpec
    >>> frame = pd.DataFrame({"id": range(40), "size": [i % 7 + 0.5 for i in range(40)],
    ...                       "color": ["red", "blue"] * 20,
    ...                       "price": [i * 1.5 for i in range(40)],
    ...                       "sold": ["yes", "no", "no", "yes"] * 10})
    >>> spec = DataSpec(targets=["price", "sold"], source=frame, exclude=["id"],
    ...                 split={"key": "id", "fractions": {"train": 0.75, "test": 0.25}})
    >>> data = spec.load()
    >>> [(f.column, f.type) for f in data.features]
    [('size', 'float_normalized'), ('color', 'string_categorical')]
    >>> [(t.name, t.kind) for t in data.tasks], data.targets[1].classes
    ([('price', 'regression'), ('sold', 'binary')], ['no', 'yes'])
    >>> data.spec.rows
    {'train': 31, 'test': 9}
    """

    def __init__(self, targets: Any, features: Any = None, train: Any = None,
                 validation: Any = None, test: Any = None, source: Any = None,
                 split: HashSplit | Mapping | None = None, crosses: Sequence = (),
                 exclude: Sequence[str] = (), na_values: Sequence[str] = DEFAULT_NA_VALUES,
                 invalid_values: str = "error", sample_rows: int = 10_000,
                 max_categories: int = 100, max_integer_categories: int = 10,
                 max_inferred_classes: int = 10, hashing_dim: int = 32,
                 rows: Mapping[str, int] | None = None, cache: str | None = "auto",
                 base_dir: str | None = None):
        given = {"train": train, "validation": validation, "test": test}
        if source is not None:
            if any(v is not None for v in given.values()):
                raise ValueError("Expected either `source` with a `split`, or `train` (with "
                                 "optional `validation` and `test`), not both. Received "
                                 f"source and {[k for k, v in given.items() if v is not None]}")
            if split is None:
                raise ValueError("Expected a `split` ({'key': column, 'fractions': {...}}) to "
                                 "cut the single `source` into train/validation/test. "
                                 "Received: split=None")
        elif train is None:
            raise ValueError("Expected a `train` source (or one `source` with a `split`). "
                             "Received: train=None, source=None")
        elif split is not None:
            raise ValueError("Expected `split` only with one `source`. Received a split with "
                             "separate train/validation/test sources.")
        self.split = None if split is None else (
            split if isinstance(split, HashSplit) else HashSplit.from_config(split))
        self.source = None if source is None else source_from_config(source, base_dir)
        self.sources = {k: source_from_config(v, base_dir) for k, v in given.items()
                        if v is not None}
        self.targets = _columns(targets, TargetColumn, "targets")
        if not self.targets:
            raise ValueError("Expected at least one target column (each becomes a task). "
                             f"Received: targets={targets!r}")
        self.features = None if features is None else _columns(features, FeatureColumn,
                                                               "features")
        if self.features is not None and not self.features:
            raise ValueError("Expected at least one feature column, or none given (all "
                             f"other columns). Received: features={features!r}")
        self.crosses = [c if isinstance(c, FeatureCross) else FeatureCross.from_config(c)
                        for c in crosses]
        self.exclude = list(exclude)
        self.na_values = check_na_values(na_values)
        if invalid_values not in ("error", "missing"):
            raise ValueError("Expected invalid_values 'error' or 'missing'. "
                             f"Received: invalid_values={invalid_values!r}")
        self.invalid_values = invalid_values
        options = {"sample_rows": sample_rows, "max_categories": max_categories,
                   "max_integer_categories": max_integer_categories,
                   "max_inferred_classes": max_inferred_classes, "hashing_dim": hashing_dim}
        for name, low in _INT_OPTIONS.items():
            value = options[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"Expected {name} to be an int >= {low}. "
                                 f"Received: {name}={value!r}")
            setattr(self, name, value)
        self.rows = None if rows is None else dict(rows)
        self.cache = check_cache(cache, allow_false=True)
        self._check_columns()

    def _check_columns(self):
        targets = [t.column for t in self.targets]
        for kind, cols in (("target", targets),
                           ("feature", [f.column for f in self.features or []])):
            dupes = sorted({c for c in cols if cols.count(c) > 1})
            if dupes:
                raise ValueError(f"Expected each {kind} column once. Received duplicates: {dupes}")
        both = [f.column for f in self.features or [] if f.column in targets]
        if both:
            raise ValueError(
                "Expected a column to be either a feature or a target (a task cannot see its "
                f"own label). Received columns used as both: {both}"
            )
        used = [c for c in self.exclude if c in targets or
                c in [f.column for f in self.features or []]]
        if used:
            raise ValueError(f"Expected excluded columns not to be used. Received: {used} are "
                             "also features or targets")
        if self.split is not None and self.split.key in targets:
            raise ValueError(f"Expected the split key to be an id, not a target. Received: "
                             f"key={self.split.key!r}")
        check_unique({t.column: t.task for t in self.targets}, "task")
        if self.features is not None:
            check_unique({f.column: f.input for f in self.features}, "input")
            check_inputs_and_tasks({f.column: f.input for f in self.features},
                                   {t.column: t.task for t in self.targets})
            names = [f.column for f in self.features]
            for cross in self.crosses:
                unknown = [c for c in cross.columns if c not in names]
                if unknown:
                    raise ValueError(f"Expected crosses of feature columns {names}. Received "
                                     f"{unknown} in cross {cross.columns}")

    # ------------------------------------------------------------- properties
    @property
    def is_resolved(self) -> bool:
        """Whether every feature and target has its type, state, kind and classes."""
        return (self.features is not None and all(f.is_resolved for f in self.features)
                and all(t.is_resolved for t in self.targets))

    def reads(self) -> list:
        """The sources and the splits their rows feed (`scan.Read`), train first."""
        from mtl_keras.data.tables.scan import Read

        if self.source is not None:
            return [Read(self.source, self.split)]
        return [Read(self.sources[s], s) for s in SPLITS if s in self.sources]

    @property
    def splits(self) -> list[str]:
        """The splits that have rows: train, then validation and test if given."""
        return self.split.splits if self.source is not None else [
            s for s in SPLITS if s in self.sources]

    # ----------------------------------------------------------------- loading
    def load(self, check: bool = True):
        """Resolves the spec on its data and returns a `TableData`.

        Reads the first `sample_rows` training rows if a feature type must be
        inferred, then each source once (statistics of the training split,
        checks of every split). Nothing is written.

        Args:
            check: For a fully resolved spec, whether to still read the data
                to check it (every split non-empty, numbers parse, labels
                known). An unresolved spec is always read.

        Raises:
            ValueError: Missing columns (the message lists the table's),
                files that do not match or differ, empty sources or splits,
                unparseable numbers (column, place, value), targets without
                labels, evaluation labels unseen in training.
        """
        from mtl_keras.data.tables.resolve import resolve

        return resolve(self, check)

    def with_sources(self, **sources) -> "DataSpec":
        """A copy reading other sources (`train=`, `validation=`, `test=`, or
        `source=` and `split=`); features, targets and their state are kept."""
        config = self.to_dict()
        for key in ("train", "validation", "test", "source", "split"):
            config.pop(key, None)
        if "split" not in sources and "source" in sources and self.split is not None:
            sources["split"] = self.split
        return type(self)(**config, **sources)

    def replace(self, **changes) -> "DataSpec":
        """A copy with some fields changed (sources kept unless given)."""
        config = {**self._fields(), **changes}
        return type(self)(**config)

    def _fields(self) -> dict:
        fields = {"targets": list(self.targets), "features": self.features,
                  "crosses": list(self.crosses), "exclude": list(self.exclude),
                  "na_values": list(self.na_values), "invalid_values": self.invalid_values,
                  "rows": self.rows, "cache": self.cache,
                  **{k: getattr(self, k) for k in _INT_OPTIONS}}
        if self.source is not None:
            fields.update(source=self.source, split=self.split)
        else:
            fields.update(self.sources)
        return fields

    # ---------------------------------------------------------- serialization
    def to_dict(self) -> dict:
        """A JSON-serializable dict that `from_dict` reads back."""
        config = {}
        if self.source is not None:
            config["source"] = self.source.get_config()
            config["split"] = self.split.get_config()
        for split, source in self.sources.items():
            config[split] = source.get_config()
        if self.features is not None:
            config["features"] = {f.column: {k: v for k, v in f.get_config().items()
                                             if k != "column"} for f in self.features}
        config["targets"] = {t.column: {k: v for k, v in t.get_config().items() if k != "column"}
                             for t in self.targets}
        if self.crosses:
            config["crosses"] = [c.get_config() for c in self.crosses]
        if self.exclude:
            config["exclude"] = list(self.exclude)
        config["na_values"] = list(self.na_values)
        config["invalid_values"] = self.invalid_values
        config.update({k: getattr(self, k) for k in _INT_OPTIONS})
        if self.rows is not None:
            config["rows"] = dict(self.rows)
        if self.cache != "auto":
            config["cache"] = self.cache
        return config

    @classmethod
    def from_dict(cls, config: Mapping, base_dir: str | None = None) -> "DataSpec":
        """Reads a spec dict (a run config's `data:` section, or a saved spec).

        Args:
            config: The dict.
            base_dir: Directory that relative file paths are relative to
                (the config file's directory).

        Raises:
            ValueError: Unknown keys (the message lists the known ones) or bad
                values.
        """
        if not isinstance(config, Mapping):
            raise TypeError(f"Expected the data spec to be a dict. Received: {config!r}")
        known = ("targets", "features", "train", "validation", "test", "source", "split",
                 "crosses", "exclude", "na_values", "invalid_values", "rows", "cache",
                 *_INT_OPTIONS)
        unknown = sorted(set(config) - set(known))
        if unknown:
            raise ValueError(f"Expected data spec keys among {sorted(known)}. "
                             f"Received unknown keys: {unknown}")
        if "targets" not in config:
            raise ValueError("Expected `targets` in the data spec: the columns to predict.")
        return cls(**dict(config), base_dir=base_dir)

    def save(self, path: str) -> str:
        """Writes the spec as indented JSON to `path` (atomically); returns the path."""
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
        return path

    @classmethod
    def read(cls, path: str) -> "DataSpec":
        """Reads a spec written by `save` (or by hand) from a JSON file."""
        with open(path, encoding="utf-8") as f:
            try:
                config = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"Expected a JSON data spec in {path}. Received invalid JSON "
                                 f"at line {e.lineno}, column {e.colno}: {e.msg}") from None
        return cls.from_dict(config, base_dir=os.path.dirname(os.path.abspath(path)))

    def __repr__(self):
        return (f"DataSpec(targets={[t.column for t in self.targets]}, features="
                f"{None if self.features is None else [f.column for f in self.features]})")

