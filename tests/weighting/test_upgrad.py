"""UPGrad: projections onto the dual cone, non-conflicting result."""

import numpy as np
import pytest

from mtl_keras.weighting.upgrad import UPGrad, upgrad


@pytest.mark.parametrize("grads,direction", [
    ([[1.0, 0.0], [0.0, 1.0]], [0.5, 0.5]),          # orthogonal: no conflict, the mean
    ([[1.0, 2.0], [-1.0, -2.0]], [0.0, 0.0]),        # opposed: only 0 is non-conflicting
    # v_1 = (1/2, 1/4), v_2 = (1/2, 1/2) by the KKT conditions -> d = (1/4, 3/4)
    ([[1.0, 0.0], [-1.0, 1.0]], [0.25, 0.75]),
])
def test_two_task_cases(grads, direction):
    d, _ = upgrad(grads)
    np.testing.assert_allclose(np.asarray(d), direction, atol=1e-4)


def test_dominating_gradient_result_does_not_conflict():
    for seed in range(3):
        g = np.random.default_rng(seed).normal(size=(4, 6)).astype("float32")
        g[0] *= 20.0
        d, _ = upgrad(g, num_sweeps=500)
        assert np.all(g @ np.asarray(d) >= -1e-3 * np.linalg.norm(g[0]))


def test_absent_zeros_and_config():
    d, w = upgrad([[1.0, 0.0], [-4.0, 0.0], [0.0, 1.0]], present=[1.0, 0.0, 1.0])
    np.testing.assert_allclose(np.asarray(d), [0.5, 0.5], atol=1e-5)
    assert float(w[1]) == 0.0
    d, w = upgrad(np.zeros((2, 3), "float32"))
    assert np.all(np.asarray(d) == 0) and np.all(np.isfinite(np.asarray(w)))
    assert UPGrad.from_config(UPGrad(num_sweeps=7).get_config()).num_sweeps == 7
    with pytest.raises(ValueError, match="Expected num_sweeps"):
        UPGrad(num_sweeps=0)


def test_ill_conditioned_case_is_solved_exactly():
    # g2 nearly parallel to a 20x larger g1, g3 opposing both: projected
    # Gauss-Seidel stopped far from the optimum here; the active-set solver
    # matches scipy's NNLS (float64) and leaves no conflict.
    from scipy.optimize import nnls

    g = np.array([[20.0, 0.0, 0.0], [1.0, 1e-3, 0.0], [-1.0, 0.5, 0.1]], "float32")
    d, w = upgrad(g)
    g64 = g.astype("float64")
    total = np.zeros(3)
    for i in range(3):
        low = np.eye(3)[i] / 3
        mu, _ = nnls(g64.T, -g64.T @ low)
        total += low + mu
    np.testing.assert_allclose(np.asarray(w), total, rtol=1e-4)
    assert np.all(g64 @ np.asarray(d, "float64") >= -1e-6 * np.linalg.norm(g64, axis=1))
