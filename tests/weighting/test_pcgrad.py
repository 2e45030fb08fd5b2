"""PCGrad: hand-computed projections and the no-conflict property."""

import numpy as np
import pytest

from mtl_keras.weighting.pcgrad import PCGrad, pcgrad


@pytest.mark.parametrize("grads,weights,direction", [
    ([[1.0, 0.0], [0.0, 2.0]], [1.0, 1.0], [1.0, 2.0]),          # orthogonal: unchanged
    ([[1.0, 2.0], [-1.0, -2.0]], [2.0, 2.0], [0.0, 0.0]),        # opposed: both vanish
    # dominating: g1' = g1 + 5 g2 = (5,5); g2' = g2 + 0.1 g1 = (0,1): weights (1.1, 6)
    ([[10.0, 0.0], [-1.0, 1.0]], [1.1, 6.0], [5.0, 6.0]),
])
def test_two_task_cases(grads, weights, direction):
    d, w = pcgrad(grads, seed=(3, 4))
    np.testing.assert_allclose(np.asarray(w), weights, atol=1e-5)
    np.testing.assert_allclose(np.asarray(d), direction, atol=1e-5)


def test_removes_negative_inner_products():
    rng = np.random.default_rng(1)
    for _ in range(5):
        g = rng.normal(size=(2, 6)).astype("float32")
        if g[0] @ g[1] > 0:
            g[1] = -g[1]
        d, _ = pcgrad(g, seed=(0, 1))
        assert np.all(g @ np.asarray(d) >= -1e-5)


def test_seed_absent_tasks_and_zeros():
    g = np.random.default_rng(2).normal(size=(3, 4)).astype("float32")
    d1, _ = pcgrad(g, seed=(5, 6))
    d2, _ = pcgrad(g, seed=(5, 6))
    np.testing.assert_array_equal(np.asarray(d1), np.asarray(d2))
    d, w = pcgrad([[1.0, 0.0], [-3.0, 0.0], [0.0, 1.0]], present=[1.0, 0.0, 1.0])
    np.testing.assert_allclose(np.asarray(d), [1.0, 1.0], atol=1e-6)
    assert float(w[1]) == 0.0
    d, w = pcgrad(np.zeros((2, 3), "float32"))
    assert np.all(np.isfinite(np.asarray(w))) and np.all(np.asarray(d) == 0)


def test_strategy_config():
    clone = PCGrad.from_config(PCGrad(mode="representation", seed=7).get_config())
    assert (clone.mode, clone.seed) == ("representation", 7)
    with pytest.raises(ValueError,
                       match="Expected seed to be None or an int. Received: seed='x'"):
        PCGrad(seed="x")


def _sequential_pcgrad(grads, orders):
    """The paper's loop on full vectors (Yu et al. 2020, Algorithm 1)."""
    out = []
    for i, g in enumerate(grads):
        g = g.copy()
        for j in orders[i]:
            dot = g @ grads[j]
            if j != i and dot < 0:
                g = g - dot / (grads[j] @ grads[j]) * grads[j]
        out.append(g)
    return np.sum(out, axis=0)


def test_matches_sequential_reference_with_four_tasks():
    from mtl_keras.weighting.pcgrad import random_orders

    rng = np.random.default_rng(3)
    for trial in range(5):
        grads = rng.normal(size=(4, 7)).astype("float32")
        seed = (trial, 11)
        orders = np.asarray(random_orders(4, seed))
        d, w = pcgrad(grads, seed=seed)
        np.testing.assert_allclose(np.asarray(d), _sequential_pcgrad(grads.astype("float64"), orders),
                                   rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(np.asarray(w) @ grads, np.asarray(d), rtol=1e-4, atol=1e-5)
