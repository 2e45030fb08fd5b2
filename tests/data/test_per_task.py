"""Tests of the per-task dataset helpers: sentinels for every task kind, sizes."""

import numpy as np
import pytest
import tensorflow as tf

import mtl_keras as mtl
from mtl_keras.data import per_task


def test_other_tasks_get_their_missing_label_sentinel():
    tasks = [mtl.Task("tags", "multilabel", num_classes=3), mtl.Task("flag", "binary"),
             mtl.Task("size", "regression", output_size=2)]
    x = np.zeros((2, 1), "float32")
    sources = {
        "tags": tf.data.Dataset.from_tensor_slices((x, np.ones((2, 3), "int64"))),
        "flag": tf.data.Dataset.from_tensor_slices((x, np.array([True, False]))),
        "size": tf.data.Dataset.from_tensor_slices((x, np.ones((2, 2), "float64"))),
    }
    checked = {t.name: per_task.standardize(sources[t.name], t) for t in tasks}
    specs = {t.label_key: checked[t.name][2] for t in tasks}
    _, y = next(iter(per_task.with_masked_labels(checked["flag"], tasks[1], tasks, specs)))
    assert y["tags"].numpy().tolist() == [-1, -1, -1] and y["tags"].dtype == tf.int32
    assert y["flag"].numpy() == 1 and y["flag"].dtype == tf.int32  # bool -> int32
    assert np.all(np.isnan(y["size"].numpy())) and y["size"].dtype == tf.float32
    # Masked this way, the model's tasks see no label for these samples.
    clean, mask = tasks[0].prepare_labels(y["tags"][None])
    assert mask.numpy().tolist() == [0.0]
    clean, mask = tasks[2].prepare_labels(y["size"][None])
    assert mask.numpy().tolist() == [0.0]


def test_dataset_size():
    ds = tf.data.Dataset.range(7)
    assert per_task.dataset_size(ds, "a", None) == 7
    assert per_task.dataset_size(ds.filter(lambda v: v < 3), "a", None) == 3
    assert per_task.dataset_size(ds.repeat(), "a", 5) == 5
    with pytest.raises(ValueError, match="Expected the size of task 'a'"):
        per_task.dataset_size(ds, "a", 0)


def test_batched_or_unlabelled_dataset_is_rejected():
    task = mtl.Task("a", "binary")
    with pytest.raises(ValueError, match=r"unbatched \(features, label\) pairs"):
        per_task.standardize(tf.data.Dataset.range(3), task)
    batched = tf.data.Dataset.from_tensor_slices(
        (np.zeros((4, 2), "float32"), np.zeros(4, "int32"))).batch(2)
    with pytest.raises(ValueError, match="labels of a fixed shape"):
        per_task.standardize(batched, task)
