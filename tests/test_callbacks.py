import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_keras as mtl
from mtl_keras.callbacks import TaskWeightLogger


def _scalars(log_dir):
    values = {}
    for path in glob.glob(os.path.join(log_dir, "train", "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                values.setdefault(value.tag, []).append(
                    (event.step, float(tf.make_ndarray(value.tensor))))
    return values


def test_weights_and_losses_written_per_epoch(tmp_path):
    tasks = [mtl.Task("a", "binary"), mtl.Task("b", "regression")]
    model = mtl.build_hard_sharing(keras.Input((3,)), mtl.backbones.mlp([8]), tasks)
    model.compile(optimizer="sgd", weighting={"a": 2.0, "b": 0.5})
    x = np.random.rand(16, 3).astype("float32")
    y = {"a": np.random.randint(0, 2, 16), "b": np.random.rand(16).astype("float32")}
    history = model.fit(x, y, epochs=2, batch_size=8, validation_data=(x, y), verbose=0,
                        callbacks=[TaskWeightLogger(str(tmp_path))])
    scalars = _scalars(str(tmp_path))
    assert scalars["task_weight/a"] == [(0, 2.0), (1, 2.0)]
    assert scalars["task_weight/b"] == [(0, 0.5), (1, 0.5)]
    np.testing.assert_allclose([v for _, v in scalars["task_loss/b"]],
                               history.history["b_loss"], rtol=1e-6)
    np.testing.assert_allclose([v for _, v in scalars["val_task_loss/a"]],
                               history.history["val_a_loss"], rtol=1e-6)


def test_needs_a_multitask_model_and_a_path(tmp_path):
    with pytest.raises(ValueError, match="Expected log_dir"):
        TaskWeightLogger("")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="MultiTaskModel"):
        model.fit(np.zeros((4, 2)), np.zeros((4, 1)), verbose=0,
                  callbacks=[TaskWeightLogger(str(tmp_path))])


def test_config_round_trip(tmp_path):
    logger = TaskWeightLogger(str(tmp_path))
    assert TaskWeightLogger(**logger.get_config()).log_dir == str(tmp_path)
