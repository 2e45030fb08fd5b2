"""CAGrad: c = 0 is the mean, hand-computed symmetric case, dual optimality."""

import numpy as np
import pytest

from mtl_keras.weighting.cagrad import CAGrad, cagrad


def test_c_zero_equals_mean():
    g = np.random.default_rng(0).normal(size=(3, 5)).astype("float32")
    d, w = cagrad(g, c=0.0)
    np.testing.assert_allclose(np.asarray(d), g.mean(0), atol=1e-6)
    np.testing.assert_allclose(np.asarray(w), [1 / 3] * 3, atol=1e-6)


def test_orthogonal_symmetric_case():
    # g0 = (.5,.5); by symmetry w = (.5,.5), g_w = g0, d = g0 (1 + c).
    d, _ = cagrad([[1.0, 0.0], [0.0, 1.0]], c=0.5, rescale=0)
    np.testing.assert_allclose(np.asarray(d), [0.75, 0.75], atol=1e-4)
    d, _ = cagrad([[1.0, 0.0], [0.0, 1.0]], c=0.5, rescale=1)
    np.testing.assert_allclose(np.asarray(d), [0.6, 0.6], atol=1e-4)


def test_opposed_gradients_give_zero():
    d, w = cagrad([[1.0, 2.0], [-1.0, -2.0]], c=0.5)
    np.testing.assert_allclose(np.asarray(d), [0.0, 0.0], atol=1e-6)
    assert np.all(np.isfinite(np.asarray(w)))


def test_dominating_case_matches_brute_force_dual():
    g = np.array([[10.0, 0.0], [0.0, 1.0]])
    c = 0.5
    g0 = g.mean(0)
    radius = c * np.linalg.norm(g0)
    ws = np.linspace(0, 1, 100001)
    gw = ws[:, None] * g[0] + (1 - ws[:, None]) * g[1]
    obj = gw @ g0 + radius * np.linalg.norm(gw, axis=1)
    best = gw[np.argmin(obj)]
    expected = g0 + radius / np.linalg.norm(best) * best
    d, _ = cagrad(g.astype("float32"), c=c, rescale=0)
    np.testing.assert_allclose(np.asarray(d), expected, rtol=1e-4, atol=1e-4)
    # The worst task improves more than under the mean direction.
    assert min(g @ np.asarray(d)) > min(g @ g0)


def test_absent_task_zeros_and_config():
    d, _ = cagrad([[1.0, 0.0], [9.0, 9.0], [0.0, 1.0]], present=[1.0, 0.0, 1.0], c=0.0)
    np.testing.assert_allclose(np.asarray(d), [0.5, 0.5], atol=1e-6)
    d, w = cagrad(np.zeros((2, 3), "float32"))
    assert np.all(np.asarray(d) == 0) and np.all(np.isfinite(np.asarray(w)))
    clone = CAGrad.from_config(CAGrad(c=0.2, rescale=2, num_steps=5).get_config())
    assert (clone.c, clone.rescale, clone.num_steps) == (0.2, 2, 5)
    with pytest.raises(ValueError,
                       match=r"Expected rescale to be one of \[0, 1, 2\]. Received: rescale=3"):
        CAGrad(rescale=3)


def test_worst_task_of_the_issue_example():
    # Mirror descent left g3 . d = -41.7 (task 3 conflicting); the max-min
    # value is 18.69 (tests/weighting/test_rule_numerics.py checks it against
    # a float64 solution). On the optimal support the improvements are equal.
    g = np.array([[-100, -200, 0, 300], [-1, 3, -1, 2], [-2, 0, -1, -2]], "float32")
    d, w = cagrad(g, c=0.4, rescale=0)
    values = g.astype("float64") @ np.asarray(d, "float64")
    assert values.min() == pytest.approx(18.690355, rel=1e-4)
    assert values[2] == pytest.approx(values.min(), rel=1e-6)
    # Same direction at any scale (homogeneous of degree 1, same weights).
    d_small, w_small = cagrad(g * np.float32(1e-7), c=0.4, rescale=0)
    np.testing.assert_allclose(np.asarray(w_small), np.asarray(w), rtol=1e-4)


def test_one_task_and_validation():
    # One task: d* = g0 + c |g0| g0 / |g0| = (1 + c) g0, then / (1 + c^2).
    d, w = cagrad([[3.0, 4.0]], c=0.5, rescale=1)
    np.testing.assert_allclose(np.asarray(d), np.array([3.0, 4.0]) * 1.5 / 1.25, rtol=1e-6)
    with pytest.raises(ValueError, match="Expected c to be finite and >= 0. Received: c=-0.1"):
        cagrad([[1.0, 0.0]], c=-0.1)
    with pytest.raises(ValueError, match="Expected rescale"):
        cagrad([[1.0, 0.0]], rescale=5)
