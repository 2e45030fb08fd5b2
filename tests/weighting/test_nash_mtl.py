"""Nash-MTL: the bargaining condition G G^T alpha = 1 / alpha."""

import numpy as np
import pytest

from mtl_keras.weighting.nash_mtl import NashMTL, nash_mtl


def test_orthogonal_closed_form():
    # K = diag(1, 4): alpha_i = 1 / ||g_i||.
    d, w = nash_mtl([[1.0, 0.0], [0.0, 2.0]])
    np.testing.assert_allclose(np.asarray(w), [1.0, 0.5], atol=1e-4)
    np.testing.assert_allclose(np.asarray(d), [1.0, 1.0], atol=1e-4)


@pytest.mark.parametrize("grads", [
    [[10.0, 0.0], [1.0, 1.0]],                                      # one dominating
    np.random.default_rng(0).normal(size=(3, 5)).tolist(),
])
def test_bargaining_condition(grads):
    g = np.asarray(grads, "float64")
    d, w = nash_mtl(np.asarray(grads, "float32"))
    w = np.asarray(w, "float64")
    assert np.all(w > 0)
    # every task's utility g_i . d equals 1 / alpha_i
    np.testing.assert_allclose(g @ np.asarray(d, "float64"), 1.0 / w, rtol=2e-3)


def test_scale_invariance_opposed_and_zeros():
    g = np.random.default_rng(1).normal(size=(2, 4)).astype("float32")
    d1, _ = nash_mtl(g)
    d2, _ = nash_mtl(100.0 * g)
    np.testing.assert_allclose(np.asarray(d1), np.asarray(d2), rtol=1e-3, atol=1e-5)
    d, w = nash_mtl([[1.0, 2.0], [-1.0, -2.0]])
    np.testing.assert_allclose(np.asarray(d), [0.0, 0.0], atol=1e-3)
    assert np.all(np.isfinite(np.asarray(w)))
    d, w = nash_mtl(np.zeros((3, 2), "float32"))
    assert np.all(np.asarray(w) == 0) and np.all(np.asarray(d) == 0)


def test_absent_task_and_config():
    d, w = nash_mtl([[1.0, 0.0], [5.0, 5.0], [0.0, 2.0]], present=[1.0, 0.0, 1.0])
    np.testing.assert_allclose(np.asarray(w), [1.0, 0.0, 0.5], atol=1e-4)
    clone = NashMTL.from_config(NashMTL(num_steps=5, ridge=1e-3).get_config())
    assert (clone.num_steps, clone.ridge) == (5, 1e-3)
    with pytest.raises(ValueError,
                       match="Expected ridge to be finite and > 0. Received: ridge=0.0"):
        NashMTL(ridge=0.0)


def test_update_weights_every_k_steps_reuses_the_last_solution():
    strategy = NashMTL(update_weights_every=2)
    strategy.build_for_tasks(["a", "b"])
    first = np.array([[1.0, 0.0], [0.0, 2.0]], "float32")     # alpha = (1, 0.5)
    second = np.array([[2.0, 0.0], [0.0, 1.0]], "float32")    # alpha would be (0.5, 1)
    d, w = strategy.combine_gradients(first, np.ones(2, "float32"))
    np.testing.assert_allclose(np.asarray(w), [1.0, 0.5], atol=1e-4)
    d, w = strategy.combine_gradients(second, np.ones(2, "float32"))   # reused
    np.testing.assert_allclose(np.asarray(w), [1.0, 0.5], atol=1e-4)
    np.testing.assert_allclose(np.asarray(d), [2.0, 0.5], atol=1e-4)
    d, w = strategy.combine_gradients(second, np.array([1.0, 0.0], "float32"))  # solved
    np.testing.assert_allclose(np.asarray(w), [0.5, 0.0], atol=1e-4)
    d, w = strategy.combine_gradients(second, np.ones(2, "float32"))   # reused, b stays 0
    np.testing.assert_allclose(np.asarray(w), [0.5, 0.0], atol=1e-4)
    config = strategy.get_config()
    assert config["update_weights_every"] == 2
    assert NashMTL.from_config(config).update_weights_every == 2
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="update_weights_every"):
            NashMTL(update_weights_every=bad)


def test_update_weights_every_inside_fit():
    import keras

    import mtl_keras as mtl

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = {"a": x[:, 0].copy(), "b": (x[:, 1] > 0).astype("int32")}
    model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]),
                                   [mtl.Task("a", "regression"), mtl.Task("b", "binary")])
    model.compile(optimizer="sgd", weighting=NashMTL(mode="representation",
                                                     update_weights_every=3))
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0).history
    assert int(model.weighting.step.numpy()) == 4
    alpha = model.weighting.alpha.numpy()
    assert np.all(alpha > 0) and np.all(np.isfinite(history["a_weight"]))


def test_solver_accuracy_and_per_task_ridge():
    from mtl_keras.weighting.nash_mtl import nash_weights

    # One task 1000x larger: the ridge is relative to each task's own norm,
    # so the small tasks' weights are still exact (K = diag(1e6, 1, 4)).
    k = np.diag([1e6, 1.0, 4.0]).astype("float32")
    np.testing.assert_allclose(np.asarray(nash_weights(k)), [1e-3, 1.0, 0.5], rtol=1e-5)
    # Two opposed gradients: no solution without the ridge; with it, equal
    # weights 1 / sqrt(ridge ||g||^2) and d = 0 (the Newton loop runs in
    # float64, so the cancellation in K alpha is exact).
    d, w = nash_mtl([[3.0, 4.0], [-3.0, -4.0]])
    np.testing.assert_allclose(np.asarray(w), [200.0, 200.0], rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(d), [0.0, 0.0])
