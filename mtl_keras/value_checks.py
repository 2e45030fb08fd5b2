"""Value checks of a batch: labels, features and sample weights against the tasks.

Label, feature and sample-weight *values* are checked in memory before
`fit`/`evaluate` start (arrays, `check_values`), and batch by batch by one
assertion at the start of each training and evaluation step (datasets,
generators, `assert_batch_values`; the step waits for it, so a bad batch
changes nothing). A failing assertion surfaces as a TensorFlow
`InvalidArgumentError`; `readable_data_errors` turns it back into the
one-line `ValueError` that the same check raises on arrays. (An earlier
version checked datasets in a `map` appended to them: measured, the mapped
dataset's iterator cost ~0.1 s per epoch to create, more than the whole epoch
of a small table.)

A passing batch pays for the label rules in a few ops per group of labels
of one dtype and shape, not per task (`_fused_oks`); only a failing batch
computes which rule failed and its first offending value.
"""

from __future__ import annotations

import re
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
import tensorflow as tf

from mtl_keras.tasks import Task

_MARK = "mtl_keras data check:"


def _label_rule(task: Task) -> str:
    """How the valid labels of `task` read in an error message (no brackets)."""
    missing = "a negative value or NaN for a missing label"
    if task.kind == "binary":
        return f"labels 0 or 1, or probabilities between them, with {missing}"
    if task.kind == "multiclass":
        return (f"whole-number class ids from 0 to {task.num_classes - 1}, with "
                f"{missing}")
    if task.kind == "multilabel":
        return f"entries 0 or 1, or probabilities between them, with {missing}"
    return "finite targets, with NaN for a missing label"


class _Rule(NamedTuple):
    """One value rule of a batch.

    `bad()` builds a boolean tensor of the shape of `values`, True at each
    entry that breaks the rule described by `message` (no brackets: it is
    passed through an assertion's printout); `ok()` builds the scalar "no
    entry breaks it" (a failing batch computes both for every rule).

    `bounds`, when given, states the same rule as `(lower, upper)`: the rule
    holds when every entry, with NaN read as 0, lies in `[lower, upper]`
    (`lower=None`: no lower bound). Rules with bounds are checked together,
    a few ops per group of same dtype and shape (`_fused_oks`).
    """

    values: tf.Tensor
    message: str
    bad: Callable[[], tf.Tensor]
    ok: Callable[[], tf.Tensor]
    bounds: tuple | None = None


def _none_bad(bad: Callable[[], tf.Tensor]) -> Callable[[], tf.Tensor]:
    return lambda: tf.logical_not(tf.reduce_any(bad()))


def _label_rule_fns(task: Task, y: tf.Tensor):
    """`(bad, ok, bounds)` for `task`'s labels `y`, or None when the dtype has no value rule."""
    if y.dtype in (tf.bool, tf.string):
        return None
    if task.kind == "regression":
        if not y.dtype.is_floating:
            return None
        bad = lambda: tf.math.is_inf(y)  # noqa: E731
        # Finite, NaN allowed (a missing label): NaN reads as 0 in `bounds`.
        return bad, _none_bad(bad), (-y.dtype.max, y.dtype.max)
    # A negative value or NaN marks a missing label, so the rules only bound
    # labelled values from above (`NaN > c` is False).
    if task.kind == "multiclass":
        limit = tf.cast(task.num_classes, y.dtype)
        if y.dtype.is_floating:
            def bad():
                return (y >= tf.zeros([], y.dtype)) & ((y >= limit) | tf.not_equal(y, tf.floor(y)))
            return bad, _none_bad(bad), None
        # Whole numbers: one reduction (the max of an empty batch is the
        # dtype's lowest value, which passes).
        return (lambda: y >= limit), (lambda: tf.reduce_max(y) < limit), (None, task.num_classes - 1)
    one = tf.ones([], y.dtype)
    if y.dtype.is_floating:
        bad = lambda: y > one  # noqa: E731
        return bad, _none_bad(bad), (None, 1)
    return (lambda: y > one), (lambda: tf.reduce_max(y) <= one), (None, 1)


def _fused_oks(checks: list[_Rule]) -> list[tf.Tensor]:
    """Scalar booleans whose conjunction says whether every rule of `checks` holds.

    Rules with `bounds` are grouped by dtype and shape (every dimension but
    the batch one known) and checked with one stack, one max (and min) over
    each rule's entries and one comparison with the bounds, so a passing
    batch of 16 tasks costs about the ops of one; the other rules use their
    own `ok()`.
    """
    groups, oks = {}, []
    for rule in checks:
        shape = rule.values.shape
        if (rule.bounds is None or shape.rank is None
                or any(d is None for d in shape.as_list()[1:])):
            oks.append(rule.ok())
            continue
        groups.setdefault((rule.values.dtype, tuple(shape.as_list()[1:])), []).append(rule)
    for (dtype, _), rules in groups.items():
        if len(rules) == 1:
            oks.append(rules[0].ok())   # nothing to share
            continue
        stacked = tf.stack([rule.values for rule in rules], axis=-1)
        if dtype.is_floating:
            stacked = tf.where(tf.math.is_nan(stacked), tf.zeros([], dtype), stacked)
        axes = list(range(stacked.shape.rank - 1))
        upper = tf.constant([rule.bounds[1] for rule in rules], dtype)
        ok = tf.reduce_all(tf.reduce_max(stacked, axis=axes) <= upper)
        if any(rule.bounds[0] is not None for rule in rules):
            lowest = -np.inf if dtype.is_floating else dtype.min
            lower = tf.constant([lowest if rule.bounds[0] is None else rule.bounds[0]
                                 for rule in rules], dtype)
            ok = ok & tf.reduce_all(tf.reduce_min(stacked, axis=axes) >= lower)
        oks.append(ok)
    return oks


def _value_checks(tasks, x, y, sample_weight) -> list[_Rule]:
    """The value rules of one batch (labels, float features, sample weights)."""
    checks = []
    if isinstance(y, dict):
        for task in tasks:
            if task.label_key not in y:
                continue
            values = tf.convert_to_tensor(y[task.label_key])
            fns = _label_rule_fns(task, values)
            if fns is not None:
                checks.append(_Rule(values, f"Task {task.name!r} ({task.kind}) expects "
                                            f"{_label_rule(task)}. Received:", *fns))
    if isinstance(x, dict):
        named = sorted(x.items())
    elif isinstance(x, (list, tuple)):
        named = [(f"#{i}", v) for i, v in enumerate(x)]
    else:
        named = [("x", x)] if x is not None else []
    for name, value in named:
        if isinstance(value, (tf.SparseTensor, tf.RaggedTensor)):
            continue
        value = tf.convert_to_tensor(value)
        if value.dtype.is_floating:
            checks.append(_Rule(
                value, f"Input {name!r} expects finite feature values (impute or drop "
                       "NaN and inf before training). Received:",
                lambda v=value: tf.logical_not(tf.math.is_finite(v)),
                lambda v=value: tf.reduce_all(tf.math.is_finite(v))))
    weights = sample_weight.items() if isinstance(sample_weight, dict) else (
        [] if sample_weight is None else [(None, sample_weight)])
    for name, value in weights:
        value = tf.cast(tf.convert_to_tensor(value), tf.float32)
        where = "sample weights" if name is None else f"sample weights of task {name!r}"
        checks.append(_Rule(
            value, f"Expected the {where} to be finite and >= 0 (0 leaves a sample "
                   "out). Received:",
            lambda v=value: tf.logical_not(tf.math.is_finite(v)) | (v < 0.0),
            lambda v=value: tf.reduce_all(tf.math.is_finite(v) & (v >= 0.0))))
    return checks


def _first_bad(bad, values):
    """`(ok, example)`: whether no entry is bad, and the first bad entry (float64).

    A few cheap ops per check (no masking or sorting), so that a dataset pays
    little for checking every batch.
    """
    flat_bad = tf.concat([tf.reshape(tf.cast(bad, tf.int32), [-1]), [0]], 0)
    flat = tf.concat([tf.reshape(tf.cast(values, tf.float64), [-1]), [0.0]], 0)
    ok = tf.equal(tf.reduce_max(flat_bad), 0)
    return ok, tf.gather(flat, tf.argmax(flat_bad))


def _format_value(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else f"{value:g}"


def check_values(tasks: Sequence[Task], x: Any, y: Any, sample_weight: Any = None) -> None:
    """Checks label, feature and sample-weight values of in-memory data.

    Raises:
        ValueError: Naming the task (or input) and the first offending value.
    """
    for rule in _value_checks(tasks, x, y, sample_weight):
        ok, example = _first_bad(rule.bad(), rule.values)
        if not bool(ok):
            raise ValueError(f"{rule.message} {_format_value(example)}")


def assert_batch_values(tasks: Sequence[Task], x: Any, y: Any, sample_weight: Any = None):
    """One assertion that a batch's values fit the tasks, for a training step.

    Run where the step starts (the step's other ops wait for it), so a bad
    batch changes nothing. A failure raises a TensorFlow
    `InvalidArgumentError` whose text `readable_data_errors` turns into the
    `ValueError` that `check_values` raises for the same data. (Inside an
    XLA-compiled step, where TensorFlow drops assertions, nothing is checked.)

    Returns:
        A boolean tensor to wait for (None when there is nothing to check).
    """
    checks = _value_checks(tasks, x, _as_label_dict(y, tasks), sample_weight)
    if not checks:
        return None
    # A passing batch costs a few ops per group of rules (`_fused_oks`);
    # only a failing one computes each rule and its first offending entry
    # (inside the cond's false branch).
    fused = _fused_oks(checks)
    all_ok = fused[0] if len(fused) == 1 else tf.reduce_all(tf.stack(fused))

    def fail():
        oks = tf.stack([rule.ok() for rule in checks])
        examples = tf.stack([_first_bad(rule.bad(), rule.values)[1] for rule in checks])
        assertion = tf.raw_ops.Assert(
            condition=all_ok,
            data=[_MARK, tf.cast(oks, tf.int32), examples]
            + [rule.message for rule in checks],
            summarize=len(checks))
        with tf.control_dependencies([assertion]):
            return tf.identity(all_ok)

    return tf.cond(all_ok, lambda: all_ok, fail, name="check_batch_values")


def _as_label_dict(y, tasks):
    if isinstance(y, dict) or y is None or len(tasks) != 1:
        return y
    return {tasks[0].label_key: y}


class readable_data_errors:
    """Turns a failed `assert_batch_values` check into the `ValueError` it stands for."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, tb):
        if kind is None or not issubclass(kind, tf.errors.InvalidArgumentError):
            return False
        text = str(error.message)
        start = text.find(_MARK)
        if start < 0:
            return False
        # "[mark] [1 0 1] [0 5 0] [message 0] [message 1] [message 2]"
        fields = re.findall(r"\[([^\]]*)\]", text[start - 1:])
        oks, examples, messages = fields[1].split(), fields[2].split(), fields[3:]
        failed = oks.index("0")
        message = messages[failed].replace("\\'", "'")
        example = examples[failed]
        try:
            example = _format_value(float(example))
        except ValueError:
            pass
        raise ValueError(f"{message} {example}") from None



__all__ = [
    "assert_batch_values",
    "check_values",
    "readable_data_errors",
]
