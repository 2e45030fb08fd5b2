"""Checks of user data against a model's tasks, run before any training step.

Errors name what was expected and what was received, and are raised while
`fit`/`evaluate` are still looking at the data's structure (`element_spec` of a
`tf.data.Dataset`, or the arrays), before a step runs or a file is written.
"""

from __future__ import annotations

import re
from typing import Any, Callable, NamedTuple, Sequence

import keras
import numpy as np
import tensorflow as tf

from mtl_keras.tasks import Task


def check_label_keys(labels: Any, tasks: Sequence[Task]) -> None:
    """Raises `ValueError` unless `labels` is a dict with exactly the tasks' label keys."""
    if not isinstance(labels, dict):
        raise ValueError(
            "Expected labels as a dict keyed by task label keys "
            f"{[t.label_key for t in tasks]}. Received: {type(labels).__name__}"
        )
    expected = [t.label_key for t in tasks]
    received = sorted(labels)
    unknown = sorted(set(received) - set(expected))
    missing = [k for k in expected if k not in labels]
    if unknown or missing:
        parts = []
        if unknown:
            parts.append(f"unknown task label keys {unknown}")
        if missing:
            parts.append(
                f"no labels for {missing} (to leave samples unlabelled, use NaN, -1 "
                "or a zero per-task sample weight instead of dropping the key)"
            )
        raise ValueError(
            f"Expected labels keyed by {expected}. Received keys {received}: "
            + "; ".join(parts) + "."
        )


def _spec_of(value):
    if isinstance(value, tf.TensorSpec):
        return tuple(value.shape.as_list()) if value.shape.rank is not None else None, value.dtype
    if isinstance(value, (tf.RaggedTensorSpec, tf.SparseTensorSpec)):
        return None, value.dtype
    arr = value if hasattr(value, "shape") and hasattr(value, "dtype") else np.asarray(value)
    return tuple(arr.shape), arr.dtype


def check_labels(labels: Any, tasks: Sequence[Task]) -> None:
    """Checks label keys, and each task's label shape and dtype.

    `labels` is a dict of `tf.TensorSpec` (from a dataset's `element_spec`) or
    of arrays/tensors.
    """
    if not isinstance(labels, dict) and len(tasks) == 1 and labels is not None:
        labels = {tasks[0].label_key: labels}
    check_label_keys(labels, tasks)
    for task in tasks:
        shape, dtype = _spec_of(labels[task.label_key])
        if shape is None:
            continue
        check_label_spec(task, shape, tf.as_dtype(dtype).name
                         if not isinstance(dtype, np.dtype) else dtype.name)


def check_label_spec(task: Task, shape: Sequence[int | None], dtype: Any) -> None:
    """Raises if labels of `shape` and `dtype` cannot be `task`'s labels.

    Binary and multiclass labels are class ids of shape `(batch,)` or
    `(batch, 1)` (whole-number floats count as class ids); multilabel labels
    are `(batch, num_classes)`; regression targets `(batch, output_size)`, or
    `(batch,)` when `output_size == 1`. Unknown dimensions (`None`) match.

    Args:
        task: The task the labels are for.
        shape: The label tensor's shape, batch dimension first.
        dtype: Its dtype (anything `keras.backend.standardize_dtype` takes).

    Raises:
        ValueError: With the expected and received shape or dtype.

    Example:

    >>> import mtl_keras as mtl
    >>> check_label_spec(mtl.Task("y", "multiclass", num_classes=3), (None, 3), "float32")
    Traceback (most recent call last):
    ...
    ValueError: Task 'y' (multiclass) expects labels of shape (batch,) + one of [(), (1,)] ...
    """
    dtype = keras.backend.standardize_dtype(dtype)
    if dtype == "string" or not ("int" in dtype or "float" in dtype or dtype == "bool"):
        raise ValueError(
            f"Task {task.name!r} ({task.kind}) expects numeric labels. Received: dtype={dtype}"
        )
    shape = tuple(shape)[1:]
    hint = ""
    if task.kind in ("binary", "multiclass"):
        allowed = [(), (1,)]
        if task.kind == "multiclass":
            hint = " (class ids, not one-hot; use -1 for a missing label)"
    elif task.kind == "multilabel":
        allowed = [(task.output_size,)]
    else:
        allowed = [(task.output_size,)] + ([()] if task.output_size == 1 else [])
    if shape not in allowed and not _matches_unknown(shape, allowed):
        raise ValueError(
            f"Task {task.name!r} ({task.kind}) expects labels of shape "
            f"(batch,) + one of {allowed}{hint}. Received: shape=(batch,) + {shape}"
        )


def _matches_unknown(shape, allowed):
    """True when `shape` has unknown dims that could match one allowed shape."""
    for a in allowed:
        if len(a) == len(shape) and all(s is None or s == d for s, d in zip(shape, a)):
            return True
    return False


def check_log_keys(keys: Sequence[str]) -> None:
    """Raises `ValueError` if two of a model's log entries share a key.

    `keys` are the training log keys the model writes (`loss`, each task's
    `<task>_loss`, `<task>_weight` and `<task>_<metric>`, penalty entries);
    Keras adds `val_` in front of each for validation.
    """
    seen, dupes = set(), set()
    for key in keys:
        (dupes if key in seen else seen).add(key)
    if dupes:
        raise ValueError(
            "Expected every log entry of the model to have its own key. Received "
            f"clashing keys {sorted(dupes)}: rename a task or a metric."
        )


def check_sample_weight_keys(sample_weight: Any, tasks: Sequence[Task]) -> None:
    """Raises `ValueError` if a per-task sample-weight dict names an unknown task."""
    if not isinstance(sample_weight, dict):
        return
    names = [t.name for t in tasks]
    unknown = sorted(set(sample_weight) - set(names))
    if unknown:
        raise ValueError(
            f"Expected per-task sample weights keyed by task names {names} (a task "
            f"left out is weighted 1). Received unknown keys: {unknown}"
        )


def check_data(model, x: Any, y: Any, arg_name: str, sample_weight: Any = None) -> Any:
    """Checks the data given to `fit`/`evaluate` against `model.tasks`.

    Structure (label keys, shapes, dtypes, per-task sample-weight keys) is
    checked at once; values (class ids in range, finite features and
    targets, non-negative sample weights) at once for in-memory data. Values
    of a dataset or generator are checked batch by batch in the training and
    evaluation steps (`assert_batch_values`). Returns `x`.

    Raises:
        ValueError: A dataset that yields no labels or no batches, labels with
            unknown or missing task keys, or labels whose shape, dtype or values
            do not fit; unknown sample-weight keys; non-finite features.
    """
    tasks = model.tasks
    check_sample_weight_keys(sample_weight, tasks)
    if isinstance(x, tf.distribute.DistributedDataset):
        # Distributed by the user (`strategy.distribute_datasets_from_function`
        # or `experimental_distribute_dataset`): its per-replica element spec
        # is checked when the step is traced (`check_label_keys`), its values
        # batch by batch in the step, like any dataset's.
        return x
    if isinstance(x, tf.data.Dataset):
        spec = x.element_spec
        if not isinstance(spec, tuple) or len(spec) < 2:
            raise ValueError(
                f"Expected `{arg_name}` to yield (features, labels) or (features, labels, "
                "sample_weight) with labels a dict keyed by task "
                f"{[t.label_key for t in tasks]}. Received a dataset that yields no "
                f"labels: element_spec={spec}"
            )
        check_labels(spec[1], tasks)
        if len(spec) > 2:
            check_sample_weight_keys(spec[2], tasks)
        if int(x.cardinality()) == 0:
            raise ValueError(
                f"Expected `{arg_name}` to yield at least one batch. Received an empty "
                "dataset (cardinality 0)."
            )
        return x
    if y is None:
        if x is None or hasattr(x, "__next__") or _is_keras_dataset(x):
            return x  # generators and PyDatasets: checked on the first batch
        raise ValueError(
            f"Expected labels (`y`) for `{arg_name}`, a dict keyed by task "
            f"{[t.label_key for t in tasks]}. Received: y=None"
        )
    check_labels(y, tasks)
    labels = y if isinstance(y, dict) else {tasks[0].label_key: y}
    if any(np.shape(v)[:1] == (0,) for v in labels.values()):
        raise ValueError(f"Expected at least one sample in `{arg_name}`. Received 0 samples.")
    check_values(tasks, x, labels, sample_weight)
    return x


def _is_keras_dataset(x):
    try:
        import keras

        return isinstance(x, keras.utils.PyDataset)
    except Exception:  # pragma: no cover - very old Keras
        return False


# ------------------------------------------------------------- value checks
# Label, feature and sample-weight *values* are checked in memory before
# `fit`/`evaluate` start (arrays), and batch by batch by one assertion at the
# start of each training and evaluation step (datasets, generators; the step
# waits for it, so a bad batch changes nothing). A failing assertion surfaces
# as a TensorFlow `InvalidArgumentError`; `readable_data_errors` turns it back
# into the one-line `ValueError` that the same check raises on arrays. (An
# earlier version checked datasets in a `map` appended to them: measured, the
# mapped dataset's iterator cost ~0.1 s per epoch to create, more than the
# whole epoch of a small table.)

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
    entry breaks it" in the fewest ops (a training step computes it for every
    batch, `bad` only when a batch fails).
    """

    values: tf.Tensor
    message: str
    bad: Callable[[], tf.Tensor]
    ok: Callable[[], tf.Tensor]


def _none_bad(bad: Callable[[], tf.Tensor]) -> Callable[[], tf.Tensor]:
    return lambda: tf.logical_not(tf.reduce_any(bad()))


def _label_rule_fns(task: Task, y: tf.Tensor):
    """`(bad, ok)` for `task`'s labels `y`, or None when the dtype has no value rule."""
    if y.dtype in (tf.bool, tf.string):
        return None
    if task.kind == "regression":
        if not y.dtype.is_floating:
            return None
        bad = lambda: tf.math.is_inf(y)  # noqa: E731
        return bad, _none_bad(bad)
    # A negative value or NaN marks a missing label, so the rules only bound
    # labelled values from above (`NaN > c` is False).
    if task.kind == "multiclass":
        limit = tf.cast(task.num_classes, y.dtype)
        if y.dtype.is_floating:
            def bad():
                return (y >= tf.zeros([], y.dtype)) & ((y >= limit) | tf.not_equal(y, tf.floor(y)))
            return bad, _none_bad(bad)
        # Whole numbers: one reduction (the max of an empty batch is the
        # dtype's lowest value, which passes).
        return (lambda: y >= limit), (lambda: tf.reduce_max(y) < limit)
    one = tf.ones([], y.dtype)
    if y.dtype.is_floating:
        bad = lambda: y > one  # noqa: E731
        return bad, _none_bad(bad)
    return (lambda: y > one), (lambda: tf.reduce_max(y) <= one)


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
    # A passing batch costs one or two ops per rule; only a failing one
    # computes the offending entries (inside the cond's false branch).
    oks = tf.stack([rule.ok() for rule in checks])
    all_ok = tf.reduce_all(oks)

    def fail():
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
    "check_data",
    "check_label_keys",
    "check_label_spec",
    "check_labels",
    "check_log_keys",
    "check_sample_weight_keys",
    "check_values",
    "assert_batch_values",
    "readable_data_errors",
]
