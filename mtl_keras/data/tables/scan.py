"""One pass over a table's splits: statistics of the training split, checks of all.

`scan` reads every source once, in order and batch by batch, with each row's
location, and

* accumulates the training split's statistics (numeric features' mean and
  variance, categorical features' value counts, the targets' values);
* stops at the first cell that breaks the spec (an unparseable number, an
  empty split key), naming the column, the place (file and line or row) and
  the value;
* records, for validation and test, where each class label was first seen
  and the first unparseable regression label, to be checked against the
  training classes once the pass is over.

`read_sample` reads the first rows of the training split (type inference).
"""

from __future__ import annotations

import dataclasses
from typing import Iterator, Sequence

import numpy as np
import tensorflow as tf

from mtl_keras.data.tables.column_stats import FirstSeen, NumberStats, ValueCounts
from mtl_keras.data.tables.feature_column import FeatureColumn
from mtl_keras.data.tables.hash_split import HashSplit
from mtl_keras.data.tables.sources import TableSource
from mtl_keras.data.tables.target_column import TargetColumn
from mtl_keras.data.tables.values import parse_integers, parse_numbers, to_text

SCAN_BATCH_SIZE = 4096
MAX_TEXT_CLASSES = 1000


@dataclasses.dataclass
class Read:
    """One source and the split(s) its rows go to: a split name or a `HashSplit`."""

    source: TableSource
    split: str | HashSplit

    @property
    def splits(self) -> list[str]:
        return [self.split] if isinstance(self.split, str) else self.split.splits

    def describe(self, split: str) -> str:
        if isinstance(self.split, str):
            return f"the {split} source, {self.source.describe()}"
        return f"the {split} split of {self.source.describe()} (by key {self.split.key!r})"


@dataclasses.dataclass
class ScanResult:
    """What one pass found; keys are column names, split names where stated."""

    rows: dict = dataclasses.field(default_factory=dict)
    numbers: dict = dataclasses.field(default_factory=dict)
    counts: dict = dataclasses.field(default_factory=dict)
    target_numbers: dict = dataclasses.field(default_factory=dict)
    target_texts: dict = dataclasses.field(default_factory=dict)
    target_present: dict = dataclasses.field(default_factory=dict)
    target_invalid: dict = dataclasses.field(default_factory=dict)
    target_seen: dict = dataclasses.field(default_factory=dict)


class Place:
    """Where a row is (a source, a part, a row); formatted only for a message."""

    __slots__ = ("source", "part", "row")

    def __init__(self, source, part, row):
        self.source, self.part, self.row = source, int(part), int(row)

    def __str__(self):
        return self.source.location(self.part, self.row)


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else repr(value)


def _read_error(source, error) -> str:
    """A readable message for a failed read: the source's own explanation, or the
    text of the failed assertion, or TensorFlow's message."""
    explain = getattr(source, "explain_read_error", None)
    if explain is not None:
        return explain(error)
    text = str(error.message)
    start = text.find("assertion failed: [")
    if start >= 0:
        start += len("assertion failed: [")
        return text[start:text.find("]", start)].replace("\\'", "'")
    return f"Could not read {source.describe()}: {text}"


def _batches(read: Read, columns: Sequence[str], prepare, na_values) -> Iterator[dict]:
    """NumPy batches of `prepare(raw batch)`, with `__split__`, `__part__`, `__row__`."""
    source = read.source
    needed = list(dict.fromkeys(list(columns) + (
        [] if isinstance(read.split, str) else [read.split.key])))
    ds = source.raw_dataset(needed, SCAN_BATCH_SIZE, with_location=True)

    def add(batch):
        out = prepare(batch)
        if isinstance(read.split, str):
            out["__split__"] = tf.zeros_like(batch["__row__"], tf.int32)
        else:
            key = batch[read.split.key]
            out["__split__"] = read.split.assign(key, na_values)
            out["__key_missing__"] = tf.equal(to_text(key, na_values), "")
        out["__part__"], out["__row__"] = batch["__part__"], batch["__row__"]
        return out

    ds = ds.map(tf.autograph.experimental.do_not_convert(add),
                num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)
    iterator = ds.as_numpy_iterator()
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except tf.errors.InvalidArgumentError as e:
            raise ValueError(_read_error(source, e)) from None
        if "__key_missing__" in batch and batch["__key_missing__"].any():
            i = int(np.argmax(batch["__key_missing__"]))
            raise ValueError(
                f"Expected a value in every cell of the split key column {read.split.key!r}. "
                f"Received an empty key at {source.location(batch['__part__'][i], batch['__row__'][i])}."
            )
        yield batch


def read_sample(read: Read, columns: Sequence[str], num_rows: int,
                na_values: Sequence[str]) -> dict[str, np.ndarray]:
    """The raw values of `columns` in the first `num_rows` training rows of `read`."""
    parts: dict[str, list] = {c: [] for c in columns}
    train = read.splits.index("train") if "train" in read.splits else None
    taken = 0
    if train is None:
        return {c: np.array([]) for c in columns}
    for batch in _batches(read, columns, lambda b: {c: b[c] for c in columns}, na_values):
        mask = batch["__split__"] == train
        for c in columns:
            parts[c].append(batch[c][mask][: num_rows - taken])
        taken += int(min(mask.sum(), num_rows - taken))
        if taken >= num_rows:
            break
    return {c: np.concatenate(v) if v else np.array([]) for c, v in parts.items()}


def invalid_number_error(column, role, value, where, what="a number"):
    """The error for an unparseable number: column, role, value, place and the way out."""
    return ValueError(
        f"Expected {what} in column {column!r} ({role}). Received: {_text(value)!r} at "
        f"{where}. Declare the column with a string type, add the marker to `na_values`, or "
        "set `invalid_values: missing` to read unparseable numbers as missing."
    )


def scan(reads: Sequence[Read], features: Sequence[FeatureColumn],
         targets: Sequence[TargetColumn], na_values: Sequence[str],
         invalid_values: str, max_inferred_classes: int) -> ScanResult:
    """Reads every source once; returns the statistics and what needs checking.

    Args:
        reads: The sources and their splits; `"train"` first.
        features: Feature columns whose type is known (resolved or not).
        targets: Target columns (kind and classes may be unknown).
        na_values: Missing-value markers.
        invalid_values: `"error"` (raise at the first unparseable number of a
            numeric column) or `"missing"`.
        max_inferred_classes: Distinct numbers tracked per target (to tell a
            class target from a regression one).

    Raises:
        ValueError: An unparseable number, an empty split key, an unreadable
            line (with its place and value).
    """
    na_values = tuple(na_values)
    result = ScanResult()
    for f in features:
        if f.reads == "number":
            result.numbers[f.column] = NumberStats()
        elif f.type.endswith("categorical") and f.vocabulary is None:
            result.counts[f.column] = ValueCounts()
    for t in targets:
        result.target_numbers[t.column] = NumberStats(max_inferred_classes)
        result.target_texts[t.column] = ValueCounts(MAX_TEXT_CLASSES)
    checked = [f for f in features if f.reads in ("number", "integer")]

    def prepare(batch):
        out = {"f": {}, "t": {}}
        for f in features:
            raw = batch[f.column]
            if f.reads == "number":
                values, invalid = parse_numbers(raw, na_values)
                out["f"][f.column] = {"values": values, "invalid": invalid, "raw": raw}
            elif f.reads == "integer":
                values, missing, invalid = parse_integers(raw, na_values)
                out["f"][f.column] = {"values": values, "invalid": invalid, "raw": raw,
                                      "present": tf.logical_not(tf.logical_or(missing, invalid))}
            elif f.column in result.counts:
                out["f"][f.column] = {"values": to_text(raw, na_values)}
        for t in targets:
            values, invalid = parse_numbers(batch[t.column], na_values)
            out["t"][t.column] = {"values": values, "invalid": invalid,
                                  "text": to_text(batch[t.column], na_values)}
        return out

    columns = [f.column for f in features] + [t.column for t in targets]
    for read in reads:
        for split in read.splits:
            result.rows.setdefault(split, 0)
            result.target_present.setdefault(split, {t.column: 0 for t in targets})
        for batch in _batches(read, columns, prepare, na_values):
            source = read.source

            def where(i, mask, batch=batch, source=source):
                index = np.flatnonzero(mask)[i]
                return Place(source, batch["__part__"][index], batch["__row__"][index])

            for s, split in enumerate(read.splits):
                mask = batch["__split__"] == s
                if not mask.any():
                    continue
                result.rows[split] += int(mask.sum())
                for f in checked:
                    got = batch["f"][f.column]
                    bad = got["invalid"][mask]
                    if bad.any() and invalid_values == "error":
                        i = int(np.argmax(bad))
                        what = "a whole number" if f.reads == "integer" else "a number"
                        raise invalid_number_error(f.column, f"{f.type} feature",
                                                   got["raw"][mask][i], where(i, mask), what)
                if split == "train":
                    for column, stats in result.numbers.items():
                        stats.update(batch["f"][column]["values"][mask])
                    for column, counts in result.counts.items():
                        got = batch["f"][column]
                        keep = mask & got["present"] if "present" in got else mask
                        counts.update(got["values"][keep])
                for t in targets:
                    got = batch["t"][t.column]
                    text = got["text"][mask]
                    present = text != b""
                    result.target_present[split][t.column] += int(present.sum())
                    bad = got["invalid"][mask]
                    invalid = result.target_invalid.setdefault(split, {})
                    if bad.any() and t.column not in invalid:
                        i = int(np.argmax(bad))
                        invalid[t.column] = (text[i], where(i, mask))
                    if split == "train":
                        result.target_numbers[t.column].update(got["values"][mask])
                        result.target_texts[t.column].update(text[present])
                    else:
                        if t.kind == "regression":
                            continue
                        seen = result.target_seen.setdefault(split, {}).setdefault(
                            t.column, FirstSeen())
                        rows = np.flatnonzero(mask)[present]
                        seen.update(text[present], lambda i, rows=rows, batch=batch,
                                    source=source: Place(source, batch["__part__"][rows[i]],
                                                         batch["__row__"][rows[i]]))
    return result
