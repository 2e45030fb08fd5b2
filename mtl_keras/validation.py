"""Checks of user data against a model's tasks, run before any training step.

Errors name what was expected and what was received, and are raised while
`fit`/`evaluate` are still looking at the data's structure (`element_spec` of a
`tf.data.Dataset`, or the arrays), before a step runs or a file is written.
"""

from __future__ import annotations

from typing import Any, Sequence

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
        task.check_label_spec(shape, tf.as_dtype(dtype).name if not isinstance(dtype, np.dtype)
                              else dtype.name)


def check_data(model, x: Any, y: Any, arg_name: str) -> None:
    """Checks the data given to `fit`/`evaluate` against `model.tasks`.

    Raises:
        ValueError: A dataset that yields no labels, labels with unknown or
            missing task keys, or labels whose shape or dtype does not fit.
    """
    tasks = model.tasks
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
        return
    if y is None:
        if x is None or hasattr(x, "__next__") or _is_keras_dataset(x):
            return  # generators and PyDatasets: checked on the first batch
        raise ValueError(
            f"Expected labels (`y`) for `{arg_name}`, a dict keyed by task "
            f"{[t.label_key for t in tasks]}. Received: y=None"
        )
    check_labels(y, tasks)


def _is_keras_dataset(x):
    try:
        import keras

        return isinstance(x, keras.utils.PyDataset)
    except Exception:  # pragma: no cover - very old Keras
        return False
