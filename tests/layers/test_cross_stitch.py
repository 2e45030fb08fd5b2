"""CrossStitch: initialization, hand-computed mixing, gradient, errors."""

import numpy as np
import pytest
import tensorflow as tf

from mtl_keras.layers import CrossStitch


def test_initial_alpha_and_mixing_are_hand_computed():
    unit = CrossStitch(self_weight=0.8)
    xs = [np.full((1, 2), v, "float32") for v in (1.0, 2.0, 4.0)]
    out = unit(xs)
    # alpha = 0.8 on the diagonal, (1 - 0.8) / 2 = 0.1 elsewhere.
    np.testing.assert_allclose(unit.alpha.numpy(),
                               [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]], atol=1e-7)
    # y_1 = 0.8 * 1 + 0.1 * 2 + 0.1 * 4 = 1.4; y_2 = 0.1 + 1.6 + 0.4 = 2.1; y_3 = 3.5.
    np.testing.assert_allclose([o.numpy()[0, 0] for o in out], [1.4, 2.1, 3.5], rtol=1e-6)
    # dsum(y_i)/dalpha_ij = sum(x_j) = 2 * x_j value.
    with tf.GradientTape() as tape:
        total = tf.add_n([tf.reduce_sum(o) for o in unit(xs)])
    np.testing.assert_allclose(tape.gradient(total, unit.alpha.value),
                               [[2.0, 4.0, 8.0]] * 3, rtol=1e-6)


def test_identity_passes_activations_through_and_config():
    unit = CrossStitch(self_weight=1.0)
    a = np.random.rand(3, 4).astype("float32")
    b = np.random.rand(3, 4).astype("float32")
    out = unit([a, b])
    np.testing.assert_array_equal(out[0], a)
    np.testing.assert_array_equal(out[1], b)
    assert CrossStitch.from_config(unit.get_config()).self_weight == 1.0


def test_bad_input_raises():
    with pytest.raises(ValueError, match="0 <= self_weight <= 1"):
        CrossStitch(self_weight=1.5)
    with pytest.raises(ValueError, match="at least two tensors"):
        CrossStitch()([np.zeros((1, 2), "float32")])
    with pytest.raises(ValueError, match="identical shapes"):
        CrossStitch()([np.zeros((1, 2), "float32"), np.zeros((1, 3), "float32")])
