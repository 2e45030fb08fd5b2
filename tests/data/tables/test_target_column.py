"""Target columns: labels with the library's missing-label convention, and their tasks."""

import numpy as np
import pytest
import tensorflow as tf

import mtl_keras as mtl
from mtl_keras.data.tables import TargetColumn
from mtl_keras.data.tables.values import DEFAULT_NA_VALUES


def test_text_classes_map_to_ids_and_missing_to_minus_one():
    t = TargetColumn("species", "multiclass", classes=["Adelie", "Gentoo", "Chinstrap"])
    got = t.convert(tf.constant(["Chinstrap", " Adelie", "", "NA", "Emperor"]), DEFAULT_NA_VALUES)
    assert got.dtype == tf.int32 and got.numpy().tolist() == [2, 0, -1, -1, -1]


def test_number_classes_read_the_same_from_text_and_float_columns():
    t = TargetColumn("grade", "multiclass", classes=[1, 2, 3])
    from_csv = t.convert(tf.constant(["3", "1.0", "", "2.5", "x"]), DEFAULT_NA_VALUES)
    from_parquet = t.convert(tf.constant([3.0, 1.0, np.nan, 2.5, 7.0], tf.float64), ())
    assert from_csv.numpy().tolist() == [2, 0, -1, -1, -1]
    assert from_parquet.numpy().tolist() == [2, 0, -1, -1, -1]


def test_regression_labels_are_nan_when_missing():
    t = TargetColumn("mass", "regression")
    got = t.convert(tf.constant(["4.25", "", "abc"]), DEFAULT_NA_VALUES).numpy()
    assert got.dtype == np.float32 and got[0] == 4.25 and np.isnan(got[1:]).all()


def test_to_task_passes_the_task_options():
    t = TargetColumn("Body mass (g)", "regression", head_units=[8], weight=2.0,
                     metrics=["mae"])
    task = t.to_task()
    assert task == mtl.Task("Body_mass_g", "regression", head_units=[8], weight=2.0,
                            metrics=["mae"])
    binary = TargetColumn("sex", "binary", classes=["female", "male"]).to_task()
    assert binary.kind == "binary" and binary.num_classes is None
    assert TargetColumn("c", "multiclass", classes=["a", "b", "c"]).to_task().num_classes == 3


def test_config_round_trip_keeps_only_what_was_set():
    t = TargetColumn("sold", "binary", classes=["no", "yes"], head_dropout=0.1)
    assert t.get_config() == {"column": "sold", "task": "sold", "kind": "binary",
                              "classes": ["no", "yes"], "head_dropout": 0.1}
    assert TargetColumn.from_config(t.get_config()).get_config() == t.get_config()
    assert not TargetColumn("sold").is_resolved
    assert not TargetColumn("sold", "binary").is_resolved
    assert TargetColumn("y", "regression").is_resolved


def test_argument_errors():
    with pytest.raises(ValueError, match=r"kind among \['binary', 'multiclass', 'regression'\]"):
        TargetColumn("y", "multilabel")
    with pytest.raises(ValueError, match="reserved names.*Set `task` to another name"):
        TargetColumn("loss")
    with pytest.raises(ValueError, match="expected 2 classes for a binary task"):
        TargetColumn("y", "binary", classes=["a", "b", "c"])
    with pytest.raises(ValueError, match="unique strings, or unique whole numbers"):
        TargetColumn("y", "multiclass", classes=[0.5, 1.5])
    with pytest.raises(ValueError, match="unique strings, or unique whole numbers"):
        TargetColumn("y", "regression", classes=["a", "b"])
    with pytest.raises(ValueError, match="unknown loss"):
        TargetColumn("y", "regression", loss="no_such_loss")


def test_an_auxiliary_target_makes_an_auxiliary_task_and_round_trips():
    t = TargetColumn("flavanoids", "regression", auxiliary=True)
    assert t.to_task().auxiliary and not TargetColumn("y", "regression").to_task().auxiliary
    assert t.get_config() == {"column": "flavanoids", "task": "flavanoids",
                              "kind": "regression", "auxiliary": True}
    assert TargetColumn.from_config(t.get_config()).to_task().auxiliary
    with pytest.raises(ValueError, match=r"expected auxiliary to be True or False\. "
                                         r"Received: auxiliary='yes'"):
        TargetColumn("y", "regression", auxiliary="yes")
