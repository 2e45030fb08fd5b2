"""Per-task datasets: checks, and labels completed with missing-label sentinels.

Helpers of `TaskSampler`: each per-task dataset yields `(features, label)`; it
is checked against its task and mapped to `(features, {label_key: label})`
holding every task's key, where the other tasks get -1 (class ids, multilabel
rows) or NaN (regression targets), which `MultiTaskModel` leaves out of their
losses and metrics.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

def _label_spec(task, spec):
    """The per-example label spec a task's labels are cast to."""
    shape = spec.shape
    if task.kind == "regression":
        return tf.TensorSpec(shape, tf.float32)
    dtype = tf.float32 if spec.dtype.is_floating else tf.int32
    return tf.TensorSpec(shape, dtype)


def _fill_value(task, spec):
    # -1 masks class ids (and multilabel rows); NaN masks regression targets.
    value = float("nan") if task.kind == "regression" else -1
    return tf.fill(spec.shape, tf.cast(value, spec.dtype))


def standardize(ds: tf.data.Dataset, task):
    """Checks a task's dataset; returns `(ds, label_picker, label_spec)`."""
    spec = ds.element_spec
    if not isinstance(spec, tuple) or len(spec) != 2:
        raise ValueError(
            f"Expected the dataset of task {task.name!r} to yield unbatched "
            "(features, label) pairs. Received: element_spec="
            f"{spec}"
        )
    label = spec[1]
    if isinstance(label, dict):
        if task.label_key not in label:
            raise ValueError(
                f"Expected the dataset of task {task.name!r} to hold labels under "
                f"{task.label_key!r}. Received label keys: {sorted(label)}"
            )
        label = label[task.label_key]
        pick = lambda y: y[task.label_key]  # noqa: E731
    else:
        pick = lambda y: y  # noqa: E731
    if not isinstance(label, tf.TensorSpec):
        raise ValueError(
            f"Expected a dense label tensor for task {task.name!r}. Received: {label}"
        )
    if not label.shape.is_fully_defined():
        raise ValueError(
            f"Expected labels of a fixed shape for task {task.name!r} (unbatched "
            f"examples). Received: shape={label.shape}"
        )
    task.check_label_spec((None,) + tuple(label.shape), label.dtype.name)
    return ds, pick, _label_spec(task, label)


def with_masked_labels(standardized, task, tasks, label_specs):
    """Maps to `(features, {every label_key: own label or the missing sentinel})`."""
    ds, pick, own_spec = standardized

    def to_multitask(features, label):
        labels = {}
        for other in tasks:
            spec = label_specs[other.label_key]
            if other.name == task.name:
                labels[other.label_key] = tf.cast(pick(label), own_spec.dtype)
            else:
                labels[other.label_key] = _fill_value(other, spec)
        return features, labels

    return ds.map(to_multitask)


def check_same_features(standardized):
    specs = {name: item[0].element_spec[0] for name, item in standardized.items()}
    names = list(specs)
    ref_name, ref = names[0], specs[names[0]]
    for name in names[1:]:
        other = specs[name]
        same = True
        try:
            tf.nest.assert_same_structure(ref, other)
        except (ValueError, TypeError):
            same = False
        if same:
            for a, b in zip(tf.nest.flatten(ref), tf.nest.flatten(other)):
                if a.dtype != b.dtype or not a.shape.is_compatible_with(b.shape):
                    same = False
        if not same:
            raise ValueError(
                "Expected every per-task dataset to yield the same feature structure "
                f"(names, dtypes, shapes). Received: task {ref_name!r}: {ref}; "
                f"task {name!r}: {other}"
            )


def dataset_size(ds, name, given):
    """Number of examples of task `name`'s dataset: `given`, else its cardinality
    (counted when unknown). Raises for an infinite dataset without `given` and for
    an empty one."""
    if given is not None:
        if not isinstance(given, (int, np.integer)) or given < 1:
            raise ValueError(
                f"Expected the size of task {name!r}'s dataset to be an int >= 1. "
                f"Received: {given!r}"
            )
        return int(given)
    card = int(ds.cardinality())
    if card == tf.data.INFINITE_CARDINALITY:
        raise ValueError(
            f"The dataset of task {name!r} is infinite: expected its number of "
            f"examples in sizes={{{name!r}: n}}. Received: sizes=None"
        )
    if card == tf.data.UNKNOWN_CARDINALITY:
        card = int(ds.reduce(np.int64(0), lambda c, _: c + 1))
    if card == 0:
        raise ValueError(
            f"Expected a non-empty dataset for task {name!r}. Received an empty dataset."
        )
    return card
