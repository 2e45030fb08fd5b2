import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl_keras.weighting import RandomLossWeighting


def _built(**kwargs):
    w = RandomLossWeighting(**kwargs)
    w.build_for_tasks(["a", "b", "c"])
    return w


def test_weights_are_softmax_of_seeded_normal_draws():
    w = _built(seed=7)
    first = w.compute_weights([1.0] * 3, [1.0] * 3, True).numpy()
    second = w.compute_weights([1.0] * 3, [1.0] * 3, True).numpy()
    draw = tf.random.stateless_normal((3,), seed=[7, 0]).numpy()
    np.testing.assert_allclose(first, np.exp(draw) / np.exp(draw).sum(), rtol=1e-6)
    assert not np.allclose(first, second)
    assert int(w.step.numpy()) == 2
    # Same seed and step: same weights (what makes a resumed run reproducible).
    again = _built(seed=7)
    np.testing.assert_allclose(again.compute_weights([1.0] * 3, [1.0] * 3, True), first)


def test_absent_tasks_and_evaluation():
    w = _built(distribution="uniform")
    weights = w.compute_weights([1.0, 0.0, 1.0], [1.0, 0.0, 1.0], True).numpy()
    assert weights[1] == 0.0 and weights.sum() == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_allclose(w.compute_weights(None, [1.0, 1.0, 0.0], False), [0.5, 0.5, 0.0])
    assert int(w.step.numpy()) == 1


def test_bad_arguments():
    with pytest.raises(ValueError, match="Expected distribution"):
        RandomLossWeighting(distribution="cauchy")
    with pytest.raises(ValueError,
                       match=r"Expected seed to be None or an int. Received: seed=1.5"):
        RandomLossWeighting(seed=1.5)


def test_config_round_trip():
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(
        RandomLossWeighting(distribution="uniform", seed=3)))
    assert (clone.distribution, clone.seed) == ("uniform", 3)
