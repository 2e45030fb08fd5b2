"""Checks of user data against a model's tasks, run before any training step.

Errors name what was expected and what was received, and are raised while
`fit`/`evaluate` are still looking at the data's structure (`element_spec` of a
`tf.data.Dataset`, or the arrays), before a step runs or a file is written.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf

from mtl_keras.tasks import Task
# Re-exported: the trainer and users reach the value checks through this module.
from mtl_keras.value_checks import (  # noqa: F401
    assert_batch_values,
    check_values,
    readable_data_errors,
)


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
