"""GradVac: hand-computed alignment to target similarities and the EMA update."""

import numpy as np
import pytest

from mtl_keras.weighting.gradvac import GradVac, gradvac
from mtl_keras.weighting.pcgrad import pcgrad


def test_zero_targets_equal_pcgrad():
    g = [[10.0, 0.0], [-1.0, 1.0]]
    d, w, _ = gradvac(g, np.zeros((2, 2), "float32"), seed=(1, 1))
    np.testing.assert_allclose(np.asarray(d), [5.0, 6.0], atol=1e-5)
    np.testing.assert_allclose(np.asarray(d), np.asarray(pcgrad(g)[0]), atol=1e-5)


def test_opposed_and_orthogonal():
    d, _, _ = gradvac([[1.0, 2.0], [-1.0, -2.0]], np.zeros((2, 2), "float32"))
    np.testing.assert_allclose(np.asarray(d), [0.0, 0.0], atol=1e-6)
    d, _, targets = gradvac([[1.0, 0.0], [0.0, 2.0]], np.zeros((2, 2), "float32"), beta=0.5)
    np.testing.assert_allclose(np.asarray(d), [1.0, 2.0], atol=1e-6)   # cos 0 is not < 0
    np.testing.assert_allclose(np.asarray(targets), np.zeros((2, 2)), atol=1e-6)


def test_raises_similarity_to_positive_target_and_updates_ema():
    targets = np.array([[0.0, 0.5], [0.5, 0.0]], "float32")
    d, w, new = gradvac([[1.0, 0.0], [0.0, 1.0]], targets, beta=0.5)
    # g1' = g1 + ||g1|| (0.5 * 1 - 0) / (||g2|| sqrt(0.75)) g2 = (1, 1/sqrt(3)); symmetric for g2.
    c = 1 / np.sqrt(3.0)
    np.testing.assert_allclose(np.asarray(w), [1 + c, 1 + c], atol=1e-5)
    g1 = np.array([1.0, c])
    assert abs(g1[1] / np.linalg.norm(g1) - 0.5) < 1e-5        # cos(g1', g2) == target
    # EMA of the observed cosine (0): 0.5 * 0.5 + 0.5 * 0 = 0.25.
    np.testing.assert_allclose(np.asarray(new), [[0.0, 0.25], [0.25, 0.0]], atol=1e-6)


def test_absent_task_keeps_targets_and_zeros_are_finite():
    targets = np.full((2, 2), 0.3, "float32")
    d, w, new = gradvac([[1.0, 0.0], [-1.0, 0.0]], targets, present=[1.0, 0.0])
    np.testing.assert_allclose(np.asarray(d), [1.0, 0.0])
    np.testing.assert_allclose(np.asarray(new), targets)
    d, w, new = gradvac(np.zeros((2, 3), "float32"), targets)
    assert np.all(np.isfinite(np.asarray(w))) and np.all(np.asarray(d) == 0)


def test_strategy_state_and_config():
    strategy = GradVac(beta=0.5, seed=1)
    strategy.build_for_tasks(["a", "b"])
    strategy.combine_gradients(np.array([[1.0, 0.0], [-1.0, 1.0]], "float32"),
                               np.ones(2, "float32"))
    # observed cosine -1/sqrt(2), EMA 0.5 * 0 + 0.5 * (-0.7071)
    np.testing.assert_allclose(strategy.targets.numpy()[0, 1], -0.5 / np.sqrt(2), atol=1e-5)
    clone = GradVac.from_config(strategy.get_config())
    assert (clone.beta, clone.seed) == (0.5, 1)
    with pytest.raises(ValueError, match=r"Expected 0 <= beta <= 1. Received: beta=-0.1"):
        GradVac(beta=-0.1)


def _sequential_gradvac(grads, targets, orders, beta):
    """GradVac's loop on full vectors (Wang et al. 2021, Algorithm 2)."""
    targets = targets.copy()
    out = []
    for i, g in enumerate(grads):
        g = g.copy()
        for j in orders[i]:
            if j == i:
                continue
            gj = grads[j]
            phi = g @ gj / (np.linalg.norm(g) * np.linalg.norm(gj))
            hat = targets[i, j]
            if phi < hat:
                g = g + np.linalg.norm(g) * (hat * np.sqrt(1 - phi ** 2) - phi * np.sqrt(1 - hat ** 2)) \
                    / (np.linalg.norm(gj) * np.sqrt(1 - hat ** 2)) * gj
            targets[i, j] = (1 - beta) * hat + beta * phi
        out.append(g)
    return np.sum(out, axis=0), targets


def test_matches_sequential_reference_with_four_tasks():
    from mtl_keras.weighting.pcgrad import random_orders

    rng = np.random.default_rng(5)
    for trial in range(5):
        grads = rng.normal(size=(4, 6))
        targets = rng.uniform(-0.3, 0.6, size=(4, 4))
        seed = (trial, 2)
        orders = np.asarray(random_orders(4, seed))
        d, w, new = gradvac(grads.astype("float32"), targets.astype("float32"), beta=0.3,
                            seed=seed)
        ref_d, ref_t = _sequential_gradvac(grads, targets, orders, 0.3)
        np.testing.assert_allclose(np.asarray(d), ref_d, rtol=1e-3, atol=1e-4)
        off = ~np.eye(4, dtype=bool)
        np.testing.assert_allclose(np.asarray(new)[off], ref_t[off], rtol=1e-3, atol=1e-4)


def test_tiny_gradients_are_still_aligned():
    # At norm ~1e-7 an epsilon on squared norms made every adjustment 0 (the
    # plain sum). The hand-computed case above, scaled by 1e-7.
    targets = np.array([[0.0, 0.5], [0.5, 0.0]], "float32")
    d, w, _ = gradvac(np.array([[1e-7, 0.0], [0.0, 1e-7]], "float32"), targets, beta=0.5)
    c = 1 / np.sqrt(3.0)
    np.testing.assert_allclose(np.asarray(w), [1 + c, 1 + c], rtol=1e-5)
    np.testing.assert_allclose(np.asarray(d), [1e-7 * (1 + c)] * 2, rtol=1e-5)
