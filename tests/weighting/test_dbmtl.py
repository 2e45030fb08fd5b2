import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl_keras.weighting import DualBalancingLossScale


def test_weights_are_inverse_losses():
    w = DualBalancingLossScale(epsilon=1e-8)
    w.build_for_tasks(["a", "b", "c"])
    total, weights = w.combine([0.5, 4.0, 0.0], [0.5, 4.0, 0.0], [1.0, 1.0, 0.0], True)
    np.testing.assert_allclose(weights, [2.0, 0.25, 0.0], rtol=1e-6)
    assert float(total) == pytest.approx(2.0, rel=1e-6)


def test_gradient_matches_sum_of_logs():
    w = DualBalancingLossScale(epsilon=0.5)
    w.build_for_tasks(["a", "b"])
    losses = tf.Variable([0.5, 1.5])
    with tf.GradientTape() as tape:
        total, _ = w.combine(losses, tf.stop_gradient(losses), [1.0, 1.0], True)
    # d/dL sum log(L + 0.5) = 1 / (L + 0.5)
    np.testing.assert_allclose(tape.gradient(total, losses), [1.0, 0.5], rtol=1e-6)


def test_epsilon_must_be_positive():
    with pytest.raises(ValueError,
                       match="Expected epsilon to be finite and > 0. Received: epsilon=-1.0"):
        DualBalancingLossScale(epsilon=-1.0)


def test_config_round_trip():
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(DualBalancingLossScale(epsilon=0.1)))
    assert clone.epsilon == 0.1
