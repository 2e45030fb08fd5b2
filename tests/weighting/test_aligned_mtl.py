"""Aligned-MTL: balanced singular values, hand-computed cases."""

import numpy as np

import mtl_keras as mtl
from mtl_keras.weighting.aligned_mtl import AlignedMTL, aligned_mtl


def test_orthogonal_rescaled_to_smallest_singular_value():
    # K = diag(1, 4): B = diag(1, 1/2); alpha = B 1.
    d, w = aligned_mtl([[1.0, 0.0], [0.0, 2.0]])
    np.testing.assert_allclose(np.asarray(w), [1.0, 0.5], atol=1e-5)
    np.testing.assert_allclose(np.asarray(d), [1.0, 1.0], atol=1e-5)


def test_opposed_gradients_cancel():
    d, w = aligned_mtl([[1.0, 2.0], [-1.0, -2.0]])
    np.testing.assert_allclose(np.asarray(w), [0.0, 0.0], atol=1e-5)
    np.testing.assert_allclose(np.asarray(d), [0.0, 0.0], atol=1e-5)


def test_balanced_system_norm():
    # Full rank: B K B = lambda_min I, so ||d||^2 = 1^T B K B 1 = T lambda_min(K).
    g = np.random.default_rng(0).normal(size=(3, 6))
    d, _ = aligned_mtl(g.astype("float32"))
    lam_min = np.linalg.eigvalsh(g @ g.T).min()
    np.testing.assert_allclose(np.dot(np.asarray(d), np.asarray(d)), 3 * lam_min, rtol=1e-3)


def test_dominating_absent_and_zeros():
    # g1 = (10, 0), g2 = (0, 1): both scaled to singular value 1.
    d, w = aligned_mtl([[10.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(np.asarray(d), [1.0, 1.0], atol=1e-4)
    d, w = aligned_mtl([[1.0, 0.0], [3.0, 3.0], [0.0, 2.0]], present=[1.0, 0.0, 1.0])
    np.testing.assert_allclose(np.asarray(w), [1.0, 0.0, 0.5], atol=1e-5)
    d, w = aligned_mtl(np.zeros((2, 3), "float32"))
    assert np.all(np.asarray(d) == 0) and np.all(np.isfinite(np.asarray(w)))


def test_strategy_registry():
    strategy = mtl.weighting.get("aligned_mtl")
    assert isinstance(strategy, AlignedMTL) and strategy.get_config()["mode"] == "parameters"
