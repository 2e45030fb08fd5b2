import math

import numpy as np
import pytest

import keras
import mtl_keras as mtl
from mtl_keras.tasks import validate_tasks, validate_weight


def test_defaults_per_kind():
    assert mtl.Task("a", "binary").output_size == 1
    assert mtl.Task("a", "multiclass", num_classes=4).output_size == 4
    assert mtl.Task("a", "multilabel", num_classes=5).output_size == 5
    assert mtl.Task("a", "regression", output_size=2).output_size == 2
    assert mtl.Task("a", "binary").loss == "binary_crossentropy"
    assert mtl.Task("a", "multiclass", num_classes=3).loss == "sparse_categorical_crossentropy"
    assert mtl.Task("a", "regression").loss == "mean_squared_error"
    names = [m.name for m in mtl.Task("sex", "binary").make_metrics()]
    assert names == ["sex_accuracy", "sex_auc"]
    names = [m.name for m in mtl.Task("mass", "regression").make_metrics()]
    assert names == ["mass_mae", "mass_rmse"]


def test_metric_kinds_resolve_per_task_kind():
    binary = mtl.Task("b", "binary", metrics=["accuracy", "precision"]).make_metrics()
    assert isinstance(binary[0], keras.metrics.BinaryAccuracy)
    assert isinstance(binary[1], keras.metrics.Precision)
    multi = mtl.Task("m", "multiclass", num_classes=3, metrics=["acc"]).make_metrics()
    assert isinstance(multi[0], keras.metrics.SparseCategoricalAccuracy)
    assert multi[0].name == "m_accuracy"
    custom = mtl.Task("r", "regression", metrics=[keras.metrics.MeanSquaredError(name="mse")])
    assert custom.make_metrics()[0].name == "r_mse"


@pytest.mark.parametrize("name", ["", "1abc", "with space", "a-b", "a/b", "loss", None, 3])
def test_invalid_names(name):
    with pytest.raises(ValueError, match="Received: name="):
        mtl.Task(name, "binary")


def test_invalid_specs():
    with pytest.raises(ValueError, match="Expected kind to be one of"):
        mtl.Task("a", "ranking")
    with pytest.raises(ValueError, match="num_classes >= 2"):
        mtl.Task("a", "multiclass")
    with pytest.raises(ValueError, match="num_classes >= 1"):
        mtl.Task("a", "multilabel", num_classes=0)
    with pytest.raises(ValueError, match="only used by multiclass"):
        mtl.Task("a", "regression", num_classes=3)
    with pytest.raises(ValueError, match="unknown loss"):
        mtl.Task("a", "regression", loss="not_a_loss")
    with pytest.raises(ValueError, match="metric 'auc' is not known"):
        mtl.Task("a", "regression", metrics=["auc"])
    with pytest.raises(ValueError, match="output_size is fixed"):
        mtl.Task("a", "binary", output_size=3)


@pytest.mark.parametrize("weight", [-1.0, math.nan, math.inf])
def test_invalid_weights(weight):
    with pytest.raises(ValueError, match="finite and >= 0"):
        mtl.Task("a", "binary", weight=weight)


def test_task_list_validation():
    with pytest.raises(ValueError, match="non-empty list"):
        validate_tasks([])
    with pytest.raises(ValueError, match=r"duplicates: \['a'\]"):
        validate_tasks([mtl.Task("a", "binary"), mtl.Task("a", "regression")])
    with pytest.raises(TypeError, match="mtl_keras.Task"):
        validate_tasks(["a"])


def test_serialization_round_trip():
    task = mtl.Task("species", "multiclass", num_classes=3, head_units=(8,), head_dropout=0.1,
                    label_key="y_species", weight=2.0,
                    metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(k=2)])
    config = keras.saving.serialize_keras_object(task)
    restored = keras.saving.deserialize_keras_object(config)
    assert restored == task
    assert [m.name for m in restored.make_metrics()] == [
        "species_accuracy", "species_sparse_top_k_categorical_accuracy"]


def test_prepare_labels_masks_missing():
    reg = mtl.Task("r", "regression")
    clean, mask = reg.prepare_labels(np.array([1.0, np.nan, 3.0], "float32"))
    np.testing.assert_array_equal(np.asarray(mask), [1, 0, 1])
    np.testing.assert_array_equal(np.asarray(clean)[:, 0], [1, 0, 3])
    cls = mtl.Task("c", "multiclass", num_classes=3)
    clean, mask = cls.prepare_labels(np.array([[2], [-1]]), sample_weight=np.array([0.5, 1.0]))
    np.testing.assert_allclose(np.asarray(mask), [0.5, 0.0])
    np.testing.assert_array_equal(np.asarray(clean), [2, 0])
    ml = mtl.Task("m", "multilabel", num_classes=2)
    _, mask = ml.prepare_labels(np.array([[1, 0], [1, -1], [np.nan, 0]], "float32"))
    np.testing.assert_array_equal(np.asarray(mask), [1, 0, 0])


def test_label_spec_checks():
    cls = mtl.Task("c", "multiclass", num_classes=3)
    cls.check_label_spec((None,), "int64")
    cls.check_label_spec((None, 1), "float32")
    with pytest.raises(ValueError, match=r"class ids, not one-hot"):
        cls.check_label_spec((None, 3), "float32")
    with pytest.raises(ValueError, match="numeric labels"):
        cls.check_label_spec((None,), "string")
    reg = mtl.Task("r", "regression", output_size=2)
    with pytest.raises(ValueError, match=r"\(batch,\) \+ \(\)"):
        reg.check_label_spec((None,), "float32")


def test_metric_direction():
    t = mtl.Task("mass", "regression")
    assert t.metric_direction("mass_mae") == "min"
    assert t.metric_direction("loss") == "min"
    assert mtl.Task("s", "binary").metric_direction("s_auc") == "max"


def test_validate_weight_uses_the_shared_validator():
    assert validate_weight(2, "w") == 2.0 and isinstance(
        validate_weight(np.float32(0.5), "w"), float)
    with pytest.raises(ValueError, match=r"Expected the weight of task 'a' to be finite and "
                                         r">= 0. Received: the weight of task 'a'=-1.0"):
        mtl.Task("a", "binary", weight=-1.0)
    with pytest.raises(ValueError, match="Expected w to be finite and >= 0. Received: w='1'"):
        validate_weight("1", "w")

