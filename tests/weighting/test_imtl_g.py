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


def test_badly_scaled_system_and_tiny_scale():
    # The case: a pseudo-inverse with an absolute cutoff returned
    # [0.001, 0.001]; the paper's answer is the bisector with weights 1/2.
    d, w = imtl_g([[1000.0, 0.0], [0.0, 1000.0]])
    np.testing.assert_allclose(np.asarray(d), [500.0, 500.0], rtol=1e-6)
    d, w = imtl_g([[1e-6, 0.0], [0.0, 2e-6]])            # dropped a task at 1e-6
    np.testing.assert_allclose(np.asarray(w), [2 / 3, 1 / 3], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(d), [2e-6 / 3, 2e-6 / 3], rtol=1e-6)


def test_rank_deficient_gradients_get_the_least_squares_direction():
    # g3 = g1 + g2 with g1 = (1, 0, 0), g2 = (0, 2, 0): only d = 0 has equal
    # projections. With u_i the unit gradients, C = [[1, 0, c], [0, 1, c],
    # [c, c, 1]], c = 1/sqrt(5) and 2/sqrt(5); the least-squares solution of
    # C x = 1 gives projections proportional to the projection of 1 onto the
    # range of C (its null vector is n = (1/sqrt(5), 2/sqrt(5), -1)).
    g = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [1.0, 2.0, 0.0]], "float32")
    d, w = imtl_g(g)
    n = np.array([1 / np.sqrt(5), 2 / np.sqrt(5), -1.0])
    target = np.ones(3) - (n @ np.ones(3)) / (n @ n) * n
    proj = g @ np.asarray(d) / np.linalg.norm(g, axis=1)
    np.testing.assert_allclose(proj / proj[0], target / target[0], rtol=1e-5)
    assert np.all(proj > 0) and abs(float(np.sum(w)) - 1.0) < 1e-5


def test_negative_weight_sum_keeps_the_projections_positive():
    # A small g2 between g1 and g3, slightly out of their plane: the
    # equal-projection direction needs weights summing to a negative number.
    # Normalised to sum 1 (the paper) every projection would be negative;
    # the rule divides by |sum| instead: weights sum to -1, projections > 0.
    g = np.array([[1.0, 0.0, 0.0], [0.05, 0.05, 0.015], [0.0, 1.0, 0.0]], "float32")
    d, w = imtl_g(g)
    proj = g @ np.asarray(d) / np.linalg.norm(g, axis=1)
    np.testing.assert_allclose(proj, np.full(3, proj[0]), rtol=1e-4)
    assert proj[0] > 0
    np.testing.assert_allclose(float(np.sum(w)), -1.0, rtol=1e-5)
