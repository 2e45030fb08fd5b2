"""Target columns: how one table column becomes the labels of one task.

A `TargetColumn` names a column, the task it feeds (an `mtl_keras.Task`) and,
once resolved, the task's kind and, for classification, its classes: the
label values in id order. Labels follow the library's missing-label rule
(`mtl_keras.tasks`): a missing cell is NaN for a regression task and -1 for a
class id, so a row without this label still trains the other tasks.

Classes are stored as they read: numbers when every label is a number (a CSV
`0/1` column and a Parquet integer column give the same classes), text
otherwise. For a binary task the second class is the positive one (label 1).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import tensorflow as tf

from mtl_keras.data.tables.names import safe_name
from mtl_keras.data.tables.values import parse_numbers, to_text
from mtl_keras.tasks import Task, validate_task_name

TARGET_KINDS = ("binary", "multiclass", "regression")
MISSING_CLASS = -1


class TargetColumn:
    """One table column used as the labels of one task.

    Args:
        column: The column's name in the table.
        kind: `"binary"`, `"multiclass"` or `"regression"`, or None to infer it
            from the training split.
        task: The task name (default: the column name made safe).
        classes: The class values in id order (inferred from the training
            split when None): strings, or whole numbers.
        loss, metrics, head_units, head_activation, head_dropout, weight:
            Passed to `mtl_keras.Task`.
        auxiliary: Whether the task is auxiliary (`mtl_keras.Task(...,
            auxiliary=True)`: trained to help the main tasks, left out of model
            selection, Δm, tuning objectives and the default export).

    Example:

    >>> import tensorflow as tf
    >>> from mtl_keras.data.tables import TargetColumn
    >>> t = TargetColumn("Species", "multiclass", classes=["Adelie", "Gentoo", "Chinstrap"])
    >>> t.to_task()
    Task('Species', 'multiclass', num_classes=3)
    >>> t.convert(tf.constant(["Gentoo", "", "NA"]), ["NA"]).numpy().tolist()
    [1, -1, -1]
    """

    def __init__(self, column: str, kind: str | None = None, task: str | None = None,
                 classes: Sequence[Any] | None = None, loss: Any = None,
                 metrics: Sequence[Any] | None = None, head_units: Sequence[int] = (),
                 head_activation: str = "relu", head_dropout: float = 0.0,
                 weight: float = 1.0, auxiliary: bool = False):
        if not isinstance(column, str) or not column:
            raise ValueError(f"Expected a column name. Received: column={column!r}")
        self.column = column
        if kind is not None and kind not in TARGET_KINDS:
            raise ValueError(
                f"Target {column!r}: expected kind among {list(TARGET_KINDS)} (or none, to "
                f"infer it). Received: kind={kind!r}"
            )
        self.kind = kind
        self.task = safe_name(column) if task is None else task
        try:
            validate_task_name(self.task)
        except ValueError as e:
            raise ValueError(f"Target {column!r}: {e}. Set `task` to another name.") from None
        self.classes = None if classes is None else list(classes)
        if self.classes is not None:
            self._check_classes()
        self.task_options = {"loss": loss, "metrics": metrics, "head_units": list(head_units),
                             "head_activation": head_activation, "head_dropout": head_dropout,
                             "weight": weight, "auxiliary": auxiliary}
        if not isinstance(auxiliary, bool):
            raise ValueError(f"Target {column!r}: expected auxiliary to be True or False. "
                             f"Received: auxiliary={auxiliary!r}")
        if self.is_resolved:
            self.to_task()  # validates the task options now

    def _check_classes(self):
        c = self.classes
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool)
                      and math.isfinite(v) and float(v).is_integer() for v in c)
        texts = all(isinstance(v, str) for v in c)
        if self.kind == "regression" or not (numbers or texts) or len(set(c)) != len(c):
            raise ValueError(
                f"Target {self.column!r}: expected classes only for a binary or multiclass "
                "task: unique strings, or unique whole numbers. Received: "
                f"kind={self.kind!r}, classes={c[:20]!r}"
            )
        if numbers:
            self.classes = [int(v) for v in c]
        expected = 2 if self.kind == "binary" else None
        if expected and len(c) != expected or len(c) < 2:
            raise ValueError(
                f"Target {self.column!r}: expected {'2' if expected else 'at least 2'} classes "
                f"for a {self.kind or 'classification'} task. Received: classes={c!r}"
            )

    @property
    def reads(self) -> str | None:
        """`"number"` (regression or number classes), `"text"`, or None if unresolved."""
        if self.kind == "regression":
            return "number"
        if self.classes is None:
            return None
        return "text" if isinstance(self.classes[0], str) else "number"

    @property
    def is_resolved(self) -> bool:
        return self.kind == "regression" or (self.kind is not None and self.classes is not None)

    def to_task(self) -> Task:
        """The `mtl_keras.Task` this column feeds."""
        if not self.is_resolved:
            raise ValueError(f"Target {self.column!r} is not resolved yet (kind {self.kind!r}): "
                             "load the spec on data first (`DataSpec.load`).")
        num_classes = len(self.classes) if self.kind == "multiclass" else None
        options = {k: v for k, v in self.task_options.items() if v is not None}
        return Task(self.task, self.kind, num_classes=num_classes, **options)

    # ----------------------------------------------------------------- labels
    def convert(self, raw: tf.Tensor, na_values: Sequence[str]) -> tf.Tensor:
        """Labels `(batch,)` from a raw column: float32 with NaN for regression,
        int32 class ids with -1 for a missing (or unknown) label otherwise."""
        return self.converter(na_values)(raw)

    def converter(self, na_values: Sequence[str]):
        """`convert` as a function of the raw column, its lookup table built once
        (outside a `tf.data` map, which calls the function)."""
        if not self.is_resolved:
            raise ValueError(f"Target {self.column!r} is not resolved yet (kind {self.kind!r}).")
        na_values = tuple(na_values)
        if self.kind == "regression":
            return lambda raw: tf.cast(parse_numbers(raw, na_values)[0], tf.float32)
        if self.reads == "text":
            table = self._table(tf.string)
            return lambda raw: table.lookup(to_text(raw, na_values))
        table = self._table(tf.int64)

        def lookup(raw):
            values, _ = parse_numbers(raw, na_values)
            whole = tf.equal(values, tf.math.round(values))  # False for NaN
            keys = tf.where(whole, tf.cast(tf.where(whole, values, 0.0), tf.int64),
                            tf.constant(-(2**62), tf.int64))  # no class has this value
            return table.lookup(keys)

        return lookup

    def _table(self, key_dtype):
        initializer = tf.lookup.KeyValueTensorInitializer(
            tf.constant(self.classes, key_dtype),
            tf.range(len(self.classes), dtype=tf.int32))
        return tf.lookup.StaticHashTable(initializer, default_value=MISSING_CLASS)

    # ---------------------------------------------------------- serialization
    def get_config(self) -> dict:
        config = {"column": self.column, "task": self.task, "kind": self.kind}
        if self.classes is not None:
            config["classes"] = list(self.classes)
        defaults = {"loss": None, "metrics": None, "head_units": [], "head_activation": "relu",
                    "head_dropout": 0.0, "weight": 1.0, "auxiliary": False}
        config.update({k: v for k, v in self.task_options.items() if v != defaults[k]})
        return config

    @classmethod
    def from_config(cls, config: dict) -> "TargetColumn":
        return cls(**config)

    def replace(self, **changes) -> "TargetColumn":
        """A copy with some arguments changed."""
        return type(self).from_config({**self.get_config(), **changes})

    def __repr__(self):
        return f"TargetColumn({self.column!r}, {self.kind!r})"
