"""MGDA / MGDA-UB: hand-computed min-norm points and the min-norm property."""

import itertools

import numpy as np
import pytest

import mtl_keras as mtl
from mtl_keras.weighting.mgda import MGDA, mgda


def _np(t):
    return np.asarray(t, dtype="float64")


@pytest.mark.parametrize("grads,weights,direction", [
    ([[1.0, 0.0], [0.0, 1.0]], [0.5, 0.5], [0.5, 0.5]),                  # orthogonal
    ([[1.0, 0.0], [-1.0, 0.0]], [0.5, 0.5], [0.0, 0.0]),                 # opposed
    # dominating: min_g ||g*(10,0) + (1-g)*(0,1)||^2 -> g = 1/101
    ([[10.0, 0.0], [0.0, 1.0]], [1 / 101, 100 / 101], [10 / 101, 100 / 101]),
])
def test_two_task_cases(grads, weights, direction):
    d, w = mgda(grads)
    np.testing.assert_allclose(_np(w), weights, atol=1e-5)
    np.testing.assert_allclose(_np(d), direction, atol=1e-5)


def test_result_is_min_norm_point_of_convex_hull():
    g = np.random.default_rng(0).normal(size=(3, 5)).astype("float32")
    d, w = mgda(g, max_iter=2000)
    # Brute force over a grid of the simplex.
    grid = np.linspace(0, 1, 201)
    best = min(np.linalg.norm(a * g[0] + b * g[1] + (1 - a - b) * g[2])
               for a, b in itertools.product(grid, grid) if a + b <= 1)
    assert np.linalg.norm(_np(d)) <= best + 1e-3
    assert abs(float(np.sum(_np(w))) - 1.0) < 1e-5 and np.all(_np(w) >= 0)
    # Optimality: every task gradient has d . g_i >= ||d||^2.
    assert np.all(g @ _np(d) >= np.dot(_np(d), _np(d)) - 1e-3)


def test_absent_task_zero_gradients_and_l2_normalization():
    d, w = mgda([[1.0, 0.0], [5.0, 5.0], [0.0, 1.0]], present=[1.0, 0.0, 1.0])
    np.testing.assert_allclose(_np(w), [0.5, 0.0, 0.5], atol=1e-6)
    d, w = mgda(np.zeros((3, 4), "float32"))
    assert np.all(np.isfinite(_np(w))) and np.all(_np(d) == 0)
    # l2: solved on unit gradients (weights 1/2 each), applied to the originals.
    d, w = mgda([[10.0, 0.0], [0.0, 1.0]], normalization="l2")
    np.testing.assert_allclose(_np(w), [0.05, 0.5], atol=1e-6)
    np.testing.assert_allclose(_np(d), [0.5, 0.5], atol=1e-6)


def test_strategy_config_registry_and_errors():
    strategy = mtl.weighting.get("mgda_ub")
    assert isinstance(strategy, MGDA) and strategy.mode == "representation"
    assert mtl.weighting.get("mgda").mode == "parameters"
    config = MGDA(normalization="l2", max_iter=10).get_config()
    clone = MGDA.from_config(config)
    assert (clone.normalization, clone.max_iter, clone.mode) == ("l2", 10, "parameters")
    with pytest.raises(ValueError, match="Expected normalization"):
        MGDA(normalization="loss")
    with pytest.raises(ValueError, match="Expected mode"):
        MGDA(mode="layers")
