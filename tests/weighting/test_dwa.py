import math

import keras
import numpy as np
import pytest

from mtl_keras.weighting import DynamicWeightAverage


def _epoch(w, batches):
    for losses, present in batches:
        w.combine(losses, losses, present, True)
    w.on_epoch_end(0)


def test_weights_after_two_epochs_of_known_losses():
    w = DynamicWeightAverage(temperature=2.0)
    w.build_for_tasks(["a", "b"])
    np.testing.assert_allclose(w.compute_weights(None, None, True), [1.0, 1.0])
    # Epoch 0: a = mean(2, 4) = 3; b = 4 (absent in the second batch).
    _epoch(w, [([2.0, 4.0], [1.0, 1.0]), ([4.0, 0.0], [1.0, 0.0])])
    np.testing.assert_allclose(w.compute_weights(None, None, True), [1.0, 1.0])
    # Epoch 1: a = 1.5, b = mean(4, 2) = 3.
    _epoch(w, [([1.5, 4.0], [1.0, 1.0]), ([1.5, 2.0], [1.0, 1.0])])
    np.testing.assert_allclose(w.loss_history.numpy(), [[3.0, 4.0], [1.5, 3.0]])
    ea, eb = math.exp(0.5 / 2.0), math.exp(0.75 / 2.0)   # r_a = 1.5/3, r_b = 3/4
    expected = [2 * ea / (ea + eb), 2 * eb / (ea + eb)]
    np.testing.assert_allclose(w.compute_weights(None, None, True), expected, rtol=1e-6)
    total, weights = w.combine([1.0, 1.0], [1.0, 1.0], [1.0, 1.0], True)
    assert float(total) == pytest.approx(sum(expected), rel=1e-6)


def test_evaluation_and_absent_epochs_leave_state_alone():
    w = DynamicWeightAverage()
    w.build_for_tasks(["a", "b"])
    w.combine([1.0, 2.0], [1.0, 2.0], [1.0, 1.0], False)
    np.testing.assert_allclose(w.epoch_loss_sum.numpy(), [0.0, 0.0])
    _epoch(w, [([1.0, 2.0], [1.0, 1.0])])
    _epoch(w, [([0.5, 0.0], [1.0, 0.0])])            # b has no label this epoch
    np.testing.assert_allclose(w.loss_history.numpy(), [[1.0, 2.0], [0.5, 2.0]])
    ea, eb = math.exp(0.5 / 2.0), math.exp(1.0 / 2.0)
    np.testing.assert_allclose(w.compute_weights(None, None, True),
                               [2 * ea / (ea + eb), 2 * eb / (ea + eb)], rtol=1e-6)


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("inf")])
def test_temperature_must_be_positive(temperature):
    with pytest.raises(ValueError, match="Expected temperature to be finite and > 0"):
        DynamicWeightAverage(temperature=temperature)


def test_config_round_trip():
    w = DynamicWeightAverage(temperature=3.0)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(w))
    assert isinstance(clone, DynamicWeightAverage) and clone.temperature == 3.0
