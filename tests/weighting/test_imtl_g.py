"""IMTL-G: equal projections on every unit gradient, hand-computed cases."""

import numpy as np
import pytest

import mtl_keras as mtl
from mtl_keras.weighting.imtl_g import IMTLG, imtl_g


@pytest.mark.parametrize("grads,weights,direction", [
    ([[1.0, 0.0], [0.0, 1.0]], [0.5, 0.5], [0.5, 0.5]),               # orthogonal
    ([[1.0, 2.0], [-1.0, -2.0]], [0.5, 0.5], [0.0, 0.0]),             # opposed
    # dominating: 2 a1 = a2 and a1 + a2 = 1 -> (1/3, 2/3)
    ([[2.0, 0.0], [0.0, 1.0]], [1 / 3, 2 / 3], [2 / 3, 2 / 3]),
])
def test_two_task_cases(grads, weights, direction):
    d, w = imtl_g(grads)
    np.testing.assert_allclose(np.asarray(w), weights, atol=1e-5)
    np.testing.assert_allclose(np.asarray(d), direction, atol=1e-5)


def test_equal_projections_on_unit_gradients():
    g = np.random.default_rng(0).normal(size=(3, 6)).astype("float32")
    d, w = imtl_g(g)
    u = g / np.linalg.norm(g, axis=1, keepdims=True)
    proj = u @ np.asarray(d)
    np.testing.assert_allclose(proj, np.full(3, proj[0]), atol=1e-4)
    assert abs(float(np.sum(w)) - 1.0) < 1e-5


def test_absent_and_zero_gradients():
    d, w = imtl_g([[2.0, 0.0], [7.0, 7.0], [0.0, 1.0]], present=[1.0, 0.0, 1.0])
    np.testing.assert_allclose(np.asarray(w), [1 / 3, 0.0, 2 / 3], atol=1e-5)
    d, w = imtl_g([[2.0, 0.0], [0.0, 0.0]])
    np.testing.assert_allclose(np.asarray(w), [1.0, 0.0], atol=1e-5)
    d, w = imtl_g(np.zeros((2, 3), "float32"))
    assert np.all(np.asarray(w) == 0) and np.all(np.asarray(d) == 0)


def test_strategy_registry_and_config():
    assert isinstance(mtl.weighting.get("imtl_g"), IMTLG)
    assert IMTLG.from_config(IMTLG(mode="representation").get_config()).mode == "representation"
