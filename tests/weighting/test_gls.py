import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl_keras.weighting import GeometricLossStrategy


def _built(n):
    w = GeometricLossStrategy()
    w.build_for_tasks([f"t{i}" for i in range(n)])
    return w


def test_total_is_geometric_mean():
    w = _built(3)
    total, weights = w.combine([1.0, 2.0, 4.0], [1.0, 2.0, 4.0], [1.0, 1.0, 1.0], True)
    assert float(total) == pytest.approx(2.0, rel=1e-6)          # (1*2*4)^(1/3)
    np.testing.assert_allclose(weights, [2 / 3, 1 / 3, 1 / 6], rtol=1e-6)


def test_gradient_matches_geometric_mean():
    w = _built(2)
    losses = tf.Variable([1.0, 4.0])
    with tf.GradientTape() as tape:
        total, _ = w.combine(losses, tf.stop_gradient(losses), [1.0, 1.0], True)
    # d sqrt(L1 L2) / dL = (0.5 sqrt(L2/L1), 0.5 sqrt(L1/L2)) = (1, 0.25)
    np.testing.assert_allclose(tape.gradient(total, losses), [1.0, 0.25], rtol=1e-6)


def test_absent_task_is_left_out():
    w = _built(3)
    total, weights = w.combine([1.0, 9.0, 0.0], [1.0, 9.0, 0.0], [1.0, 1.0, 0.0], True)
    assert float(total) == pytest.approx(3.0, rel=1e-6)
    np.testing.assert_allclose(weights, [1.5, 1 / 6, 0.0], rtol=1e-6)


def test_epsilon_must_be_positive():
    with pytest.raises(ValueError, match="Expected epsilon to be finite and > 0"):
        GeometricLossStrategy(epsilon=0.0)


def test_config_round_trip():
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(GeometricLossStrategy(epsilon=1e-4)))
    assert clone.epsilon == 1e-4
