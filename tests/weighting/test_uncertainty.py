import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_keras as mtl
from mtl_keras.weighting import UncertaintyWeighting


def _built(forms=None, s=(0.0, 0.0), names=("a", "b")):
    w = UncertaintyWeighting(forms)
    w.build_for_tasks(list(names))
    w.log_variances.assign(list(s))
    return w


def test_total_loss_for_known_log_variances():
    # a: regression form, s=log 2 -> 1/(2*2)*3 + 0.5*log 2; b: classification, s=0 -> 1*2 + 0
    w = _built({"a": "regression", "b": "classification"}, s=(math.log(2.0), 0.0))
    total, weights = w.combine([3.0, 2.0], [3.0, 2.0], [1.0, 1.0], True)
    assert float(total) == pytest.approx(0.75 + 2.0 + 0.5 * math.log(2.0), rel=1e-6)
    np.testing.assert_allclose(weights, [0.25, 1.0], rtol=1e-6)


def test_absent_task_contributes_nothing():
    w = _built({"a": "regression", "b": "classification"}, s=(math.log(2.0), 0.7))
    total, weights = w.combine([3.0, 0.0], [3.0, 0.0], [1.0, 0.0], True)
    assert float(total) == pytest.approx(0.75 + 0.5 * math.log(2.0), rel=1e-6)
    np.testing.assert_allclose(weights, [0.25, 0.0], rtol=1e-6)
    with tf.GradientTape() as tape:
        total, _ = w.combine([3.0, 0.0], [3.0, 0.0], [1.0, 0.0], True)
    grad = tape.gradient(total, w.log_variances.value)
    # d/ds_a (0.5 e^-s 3 + 0.5 s) at s = log 2: -0.75 + 0.5; b: nothing.
    np.testing.assert_allclose(grad, [-0.25, 0.0], rtol=1e-5, atol=1e-7)


def test_default_forms_follow_task_kinds():
    tasks = [mtl.Task("c", "binary"), mtl.Task("r", "regression"),
             mtl.Task("m", "multiclass", num_classes=3)]
    model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]), tasks)
    model.compile(optimizer="sgd", weighting="uncertainty")
    assert model.weighting.coefficients == [1.0, 0.5, 1.0]
    model.compile(optimizer="sgd",
                  weighting=UncertaintyWeighting({"c": "regression"}))
    assert model.weighting.coefficients == [0.5, 0.5, 1.0]


def test_log_variances_are_trained():
    tasks = [mtl.Task("a", "regression"), mtl.Task("b", "binary")]
    model = mtl.build_hard_sharing(keras.Input((3,)), mtl.backbones.mlp([8]), tasks)
    model.compile(optimizer=keras.optimizers.SGD(0.1), weighting="uncertainty")
    assert any(v is model.weighting.log_variances for v in model.trainable_variables)
    x = np.random.rand(16, 3).astype("float32")
    model.fit(x, {"a": np.random.rand(16), "b": np.random.randint(0, 2, 16)},
              epochs=1, batch_size=16, verbose=0)
    assert not np.allclose(model.weighting.log_variances.numpy(), 0.0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="Expected the form of task 'a'"):
        UncertaintyWeighting({"a": "ranking"})
    with pytest.raises(ValueError, match="initial_log_variance"):
        UncertaintyWeighting(initial_log_variance=float("nan"))
    with pytest.raises(ValueError, match="do not exist: \\['z'\\]"):
        UncertaintyWeighting({"z": "regression"}).build_for_tasks(["a"])


def test_config_round_trip():
    w = UncertaintyWeighting({"a": "classification"}, initial_log_variance=0.5)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(w))
    assert clone.forms == {"a": "classification"}
    assert clone.initial_log_variance == 0.5
