import math

import keras
import numpy as np
import pytest

from mtl_keras.weighting import FAMO


def _built():
    w = FAMO(learning_rate=0.025, gamma=0.001)
    w.build_for_tasks(["a", "b"])
    return w


def test_two_steps_of_known_losses():
    w = _built()
    # Step 1: z = (0.5, 0.5); w_t ∝ z_t / L_t = (0.5, 0.125) -> (0.8, 0.2). No update yet.
    _, weights = w.combine([1.0, 4.0], [1.0, 4.0], [1.0, 1.0], True)
    np.testing.assert_allclose(weights, [0.8, 0.2], rtol=1e-6)
    np.testing.assert_allclose(w.logits.numpy(), [0.0, 0.0])
    # Step 2: a fell from 1 to 0.5, b stayed: delta = (log 2, 0);
    # g = z * (delta - z.delta) = (+0.1733, -0.1733); Adam's first step moves
    # each logit by lr * sign(g): xi = (-0.025, +0.025).
    _, weights = w.combine([0.5, 4.0], [0.5, 4.0], [1.0, 1.0], True)
    np.testing.assert_allclose(w.logits.numpy(), [-0.025, 0.025], rtol=1e-4)
    za = 1.0 / (1.0 + math.exp(0.05))
    ra, rb = za / 0.5, (1.0 - za) / 4.0
    np.testing.assert_allclose(weights, [ra / (ra + rb), rb / (ra + rb)], rtol=1e-4)


def test_absent_tasks_and_evaluation_leave_state_alone():
    w = _built()
    w.combine([1.0, 4.0], [1.0, 4.0], [1.0, 1.0], True)
    w.combine([0.5, 0.0], [0.5, 0.0], [1.0, 0.0], False)          # evaluation
    np.testing.assert_allclose(w.previous_losses.numpy(), [1.0, 4.0])
    w.combine([0.0, 2.0], [0.0, 2.0], [0.0, 1.0], True)           # a absent
    np.testing.assert_allclose(w.previous_losses.numpy(), [1.0, 2.0])
    np.testing.assert_allclose(w.previous_present.numpy(), [0.0, 1.0])
    logits = w.logits.numpy()
    _, weights = w.combine([0.4, 0.0], [0.4, 0.0], [1.0, 0.0], True)  # nothing usable
    np.testing.assert_allclose(w.logits.numpy(), logits)
    assert float(w.adam_steps.numpy()) == 1.0
    np.testing.assert_allclose(weights, [1.0, 0.0])


def test_bad_arguments():
    with pytest.raises(ValueError, match="learning_rate"):
        FAMO(learning_rate=0.0)
    with pytest.raises(ValueError, match="gamma"):
        FAMO(gamma=-0.1)


def test_config_round_trip():
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(
        FAMO(learning_rate=0.01, gamma=0.0, epsilon=1e-6)))
    assert (clone.learning_rate, clone.gamma, clone.epsilon) == (0.01, 0.0, 1e-6)
