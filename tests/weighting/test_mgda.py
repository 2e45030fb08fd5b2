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


def test_descent_certificate_on_the_issue_counter_example():
    # d . g_i >= |d|^2 failed here after the Frank-Wolfe cap: 0 is in the
    # hull (g1 = -g2), so the min-norm point is exactly 0.
    d, w = mgda([[1.0, 0.0], [-1.0, 0.0], [0.5, 1.0]])
    np.testing.assert_array_equal(_np(d), [0.0, 0.0])
    np.testing.assert_allclose(_np(w), [0.5, 0.5, 0.0], atol=1e-6)


def test_l2_normalization_is_scale_free_and_leaves_zero_gradients_out():
    g = np.array([[3.0, 0.0], [0.0, 1.0], [0.0, 0.0]], "float32")
    # Unit gradients (1, 0) and (0, 1): weights 1/2 on each, divided by the norms.
    for s in (1e-7, 1.0, 1e4):
        d, w = mgda(g * np.float32(s), normalization="l2")
        np.testing.assert_allclose(_np(d), [0.5, 0.5], rtol=1e-6)
        np.testing.assert_allclose(_np(w) * s, [1 / 6, 0.5, 0.0], rtol=1e-6)


def test_min_norm_weights_do_not_depend_on_the_scale_of_k():
    from mtl_keras.weighting.mgda import min_norm_weights

    k = np.array([[4.0, 1.0], [1.0, 1.0]], "float32")   # w1 = (1 - 1) / (4 + 1 - 2) = 0
    for s in (1e-30, 1.0, 1e30):
        np.testing.assert_allclose(_np(min_norm_weights(k * np.float32(s))), [0.0, 1.0],
                                   atol=1e-7)
    with pytest.warns(RuntimeWarning, match="max_iter=1"):
        mgda(np.random.default_rng(1).normal(size=(6, 9)).astype("float32"), max_iter=1)
