"""Data checks of `fit`/`evaluate`: bad label values, feature values, sample weights,
empty data and log-key collisions, each a `ValueError` naming what was expected and
what was received, raised before a bad batch reaches the model."""

import re

import numpy as np
import pytest
import tensorflow as tf

import keras
import mtl_keras as mtl
from mtl_keras import validation


def _model(weighting=None):
    tasks = [mtl.Task("a", "binary"), mtl.Task("c", "multiclass", num_classes=3),
             mtl.Task("r", "regression")]
    model = mtl.build_hard_sharing(keras.Input((4,), name="x"), mtl.backbones.mlp([8]), tasks)
    model.compile(optimizer=keras.optimizers.SGD(0.01), weighting=weighting)
    return model


def _data(n=16, **labels):
    x = np.random.default_rng(0).random((n, 4)).astype("float32")
    y = {"a": np.zeros(n), "c": np.zeros(n, "int64"), "r": np.ones(n, "float32")}
    y.update(labels)
    return x, y


def _kernel(model):
    return model.trunk.trainable_variables[0].numpy().copy()


BAD_LABELS = [
    ("a", np.r_[np.zeros(8), np.full(8, 2.0)], "Task 'a' (binary) expects labels 0 or 1", "2"),
    ("c", np.r_[np.zeros(8), np.full(8, 0.5)], "whole-number class ids from 0 to 2", "0.5"),
    ("c", np.r_[np.zeros(8, "int64"), np.full(8, 3)], "whole-number class ids from 0 to 2", "3"),
    ("r", np.r_[np.zeros(8), np.full(8, np.inf)].astype("float32"), "Task 'r' (regression) "
     "expects finite targets", "inf"),
]


@pytest.mark.parametrize("task,labels,expected,received", BAD_LABELS)
def test_bad_label_values_in_arrays_raise_before_training(task, labels, expected, received):
    model = _model()
    before = _kernel(model)
    x, y = _data(**{task: labels})
    with pytest.raises(ValueError, match=re.escape(expected)) as info:
        model.fit(x, y, epochs=1, verbose=0)
    assert str(info.value).endswith(f"Received: {received}")
    np.testing.assert_array_equal(_kernel(model), before)


@pytest.mark.parametrize("weighting", [None, "pcgrad"])
@pytest.mark.parametrize("task,labels,expected,received", BAD_LABELS)
def test_bad_label_values_in_a_dataset_raise_a_readable_error(task, labels, expected, received,
                                                              weighting):
    model = _model(weighting)
    before = _kernel(model)
    x, y = _data(**{task: labels})
    # The bad values are in the second batch only: the first trains, the
    # second never reaches the model.
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    with pytest.raises(ValueError, match=re.escape(expected)) as info:
        model.fit(ds, epochs=1, verbose=0)
    assert str(info.value).endswith(f"Received: {received}")
    assert "Graph execution" not in str(info.value)
    assert not np.array_equal(_kernel(model), before)  # the good first batch trained


def test_missing_labels_pass_the_value_checks():
    x, y = _data(a=np.r_[np.zeros(8), np.full(8, -1.0)], c=np.r_[np.zeros(8), np.full(8, np.nan)],
                 r=np.r_[np.zeros(8), np.full(8, np.nan)].astype("float32"))
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    history = _model().fit(ds, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    # Probabilities are valid binary targets (soft labels).
    x, y = _data(a=np.full(16, 0.3))
    assert np.isfinite(_model().fit(x, y, epochs=1, verbose=0).history["a_loss"][0])


@pytest.mark.parametrize("weighting", [None, "pcgrad"])
def test_non_finite_features_raise_the_same_error_for_every_method(weighting):
    x, y = _data()
    x[3, 1] = np.nan
    x[5, 2] = -np.inf
    model = _model(weighting)
    before = _kernel(model)
    with pytest.raises(ValueError, match=r"Input 'x' expects finite feature values.*"
                                         r"Received: nan$"):
        model.fit(x, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"Input 'x' expects finite feature values.*"
                                         r"Received: nan$"):
        model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(16), epochs=1, verbose=0)
    np.testing.assert_array_equal(_kernel(model), before)


def test_sample_weight_dict_with_unknown_task():
    x, y = _data()
    model = _model()
    with pytest.raises(ValueError, match=r"keyed by task names \['a', 'c', 'r'\].*"
                                         r"unknown keys: \['aa'\]"):
        model.fit(x, y, sample_weight={"aa": np.zeros(16)}, epochs=1, verbose=0)
    ds = tf.data.Dataset.from_tensor_slices((x, y, {"cc": np.ones(16)})).batch(8)
    with pytest.raises(ValueError, match=r"unknown keys: \['cc'\]"):
        model.fit(ds, epochs=1, verbose=0)


def test_negative_or_non_finite_sample_weights():
    x, y = _data()
    ds = tf.data.Dataset.from_tensor_slices((x, y, {"a": np.full(16, -1.0)})).batch(8)
    with pytest.raises(ValueError, match=r"Expected the sample weights of task 'a' to be finite and >= 0"
                                         r".*Received: -1"):
        _model().fit(ds, epochs=1, verbose=0)


def test_empty_data():
    x, y = _data()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    with pytest.raises(ValueError, match="at least one batch. Received an empty dataset"):
        _model().fit(ds.take(0), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"Received: no batch in 2 epoch\(s\)"):
        _model().fit(ds.filter(lambda *_: False), epochs=2, verbose=0)
    with pytest.raises(ValueError, match="Received 0 samples"):
        _model().fit(x[:0], {k: v[:0] for k, v in y.items()}, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="at least one batch"):
        _model().evaluate(ds.take(0), verbose=0)


def test_validation_data_is_checked_before_training():
    x, y = _data()
    model = _model()
    before = _kernel(model)
    bad = dict(y, c=np.full(16, 7))
    with pytest.raises(ValueError, match="Received: 7"):
        model.fit(x, y, validation_data=(x, bad), epochs=1, verbose=0)
    np.testing.assert_array_equal(_kernel(model), before)


def test_evaluate_checks_values():
    x, y = _data(c=np.full(16, 4))
    with pytest.raises(ValueError, match="Task 'c'.*Received: 4"):
        _model().evaluate(tf.data.Dataset.from_tensor_slices((x, y)).batch(8), verbose=0)


@pytest.mark.parametrize("name", ["regularization", "val_x", "loss", "soft_sharing"])
def test_reserved_task_names(name):
    with pytest.raises(ValueError, match=f"reserved names.*Received: name='{name}'"):
        mtl.Task(name, "binary")


def test_log_key_collision_between_tasks_is_rejected_at_compile():
    tasks = [mtl.Task("a", "binary",
                      metrics=["accuracy", keras.metrics.MeanSquaredError(name="b_loss")]),
             mtl.Task("a_b", "regression")]
    model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]), tasks)
    with pytest.raises(ValueError, match=r"clashing keys \['a_b_loss'\]"):
        model.compile("adam")


def test_check_values_names_every_rule():
    task = mtl.Task("m", "multilabel", num_classes=2)
    with pytest.raises(ValueError, match="Task 'm' \\(multilabel\\).*Received: 3"):
        validation.check_values([task], None, {"m": np.array([[0.0, 1.0], [3.0, 0.0]])})
    validation.check_values([task], None, {"m": np.array([[0.0, 1.0], [-1.0, 0.5]])})


@pytest.mark.parametrize("task, shape, dtype", [
    (mtl.Task("b", "binary"), (None,), "int32"),
    (mtl.Task("b", "binary"), (8, 1), "bool"),
    (mtl.Task("c", "multiclass", num_classes=3), (None,), "float32"),   # whole-number floats
    (mtl.Task("m", "multilabel", num_classes=4), (None, 4), "int64"),
    (mtl.Task("m", "multilabel", num_classes=4), (None, None), "float32"),  # unknown width
    (mtl.Task("r", "regression"), (None,), "float64"),
    (mtl.Task("r", "regression", output_size=2), (None, 2), "float32"),
])
def test_check_label_spec_accepts(task, shape, dtype):
    validation.check_label_spec(task, shape, dtype)


@pytest.mark.parametrize("task, shape, dtype, message", [
    (mtl.Task("c", "multiclass", num_classes=3), (None, 3), "float32",
     r"Task 'c' \(multiclass\) expects labels of shape \(batch,\) \+ one of \[\(\), \(1,\)\] "
     r"\(class ids, not one-hot; use -1 for a missing label\). "
     r"Received: shape=\(batch,\) \+ \(3,\)"),
    (mtl.Task("m", "multilabel", num_classes=4), (None,), "float32",
     r"one of \[\(4,\)\]. Received: shape=\(batch,\) \+ \(\)"),
    (mtl.Task("r", "regression", output_size=2), (None,), "float32",
     r"one of \[\(2,\)\]. Received: shape=\(batch,\) \+ \(\)"),
    (mtl.Task("b", "binary"), (None,), "string",
     r"Task 'b' \(binary\) expects numeric labels. Received: dtype=string"),
])
def test_check_label_spec_rejects(task, shape, dtype, message):
    with pytest.raises(ValueError, match=message):
        validation.check_label_spec(task, shape, dtype)
    with pytest.raises(ValueError, match=message):     # the Task method is the same check
        task.check_label_spec(shape, dtype)


def test_a_dataset_distributed_by_the_user_trains_and_its_values_are_checked():
    # `strategy.distribute_datasets_from_function` gives a DistributedDataset
    # (not a tf.data.Dataset): fit takes it, and checks its values in the step.
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    tasks = [mtl.Task("c", "multiclass", num_classes=3), mtl.Task("r", "regression")]
    x = np.arange(32, dtype="float32").reshape(16, 2) / 32.0
    labels = {"c": np.array([0, 1, 2, -1] * 4, "int32"),
              "r": np.linspace(0.0, 1.0, 16).astype("float32")}
    with strategy.scope():
        model = mtl.build_hard_sharing(keras.Input((2,)), mtl.backbones.mlp([4]), tasks)
        model.compile(optimizer="sgd")

    def distributed(c):
        ds = tf.data.Dataset.from_tensor_slices((x, {**labels, "c": c}))
        return strategy.distribute_datasets_from_function(
            lambda ctx: ds.batch(ctx.get_per_replica_batch_size(8)))

    history = model.fit(distributed(labels["c"]), epochs=1, verbose=0)
    assert set(history.history) >= {"loss", "c_loss", "r_loss"}
    bad = labels["c"].copy()
    bad[9] = 3
    with pytest.raises(ValueError, match=r"Task 'c' \(multiclass\) expects whole-number class "
                                         r"ids from 0 to 2.*Received: 3"):
        model.fit(distributed(bad), epochs=1, verbose=0)
