"""GradDrop: sign-consistent masks, hand-computed cases."""

import numpy as np
import pytest

from mtl_keras.weighting.graddrop import GradDrop, graddrop


def test_agreeing_signs_are_never_dropped():
    g = [[1.0, -2.0, 0.5], [3.0, -1.0, 0.0]]
    d, kept = graddrop(g, seed=(0, 1))
    np.testing.assert_allclose(np.asarray(d), [4.0, -3.0, 0.5])
    np.testing.assert_allclose(np.asarray(kept), [1.0, 1.0])


def test_opposed_gradients_keep_exactly_one_sign_per_coordinate():
    g = np.array([[1.0, -2.0, 3.0, 4.0], [-1.0, 2.0, -3.0, -4.0]], "float32")
    d, kept = graddrop(g, seed=(2, 3))
    d = np.asarray(d)
    assert np.all(np.isclose(np.abs(d), np.abs(g[0])))   # one of +-|g| survives
    np.testing.assert_allclose(float(np.sum(kept)), 1.0, atol=1e-6)


def test_dominating_sign_survives_with_probability_of_its_purity():
    # Per coordinate P = 1/2 (1 + 9/11) = 10/11 of keeping the positive (10) side.
    n = 4000
    g = np.stack([np.full(n, 10.0), np.full(n, -1.0)]).astype("float32")
    d, _ = graddrop(g, seed=(4, 5))
    share_positive = float(np.mean(np.asarray(d) > 0))
    assert abs(share_positive - 10 / 11) < 0.02


def test_leak_absent_tasks_and_zeros():
    g = [[1.0, -2.0], [-3.0, 1.0]]
    d, _ = graddrop(g, seed=(0, 0), leak=1.0)
    np.testing.assert_allclose(np.asarray(d), [-2.0, -1.0])
    d, kept = graddrop([[1.0, 2.0], [-5.0, -5.0]], present=[1.0, 0.0], seed=(0, 0))
    np.testing.assert_allclose(np.asarray(d), [1.0, 2.0])
    np.testing.assert_allclose(np.asarray(kept), [1.0, 0.0])
    d, kept = graddrop(np.zeros((2, 3), "float32"))
    assert np.all(np.asarray(d) == 0) and np.all(np.isfinite(np.asarray(kept)))


def test_strategy_config_and_errors():
    clone = GradDrop.from_config(GradDrop(leak=0.25, seed=3).get_config())
    assert (clone.leak, clone.seed, clone.mode) == (0.25, 3, "parameters")
    with pytest.raises(ValueError, match=r"Expected 0 <= leak <= 1. Received: leak=1.5"):
        GradDrop(leak=1.5)


def test_matches_the_mask_formula_on_random_gradients():
    # The docstring's rule with explicit masks M_i, same uniform draws.
    from mtl_keras.weighting.gradient_common import hashed_uniform

    rng = np.random.default_rng(4)
    for trial, leak in enumerate((0.0, 0.3)):
        g = rng.normal(size=(4, 50)).astype("float32")
        g[:, :5] = np.abs(g[:, :5])          # agreeing signs
        g[2, 10:20] = 0.0                     # zeros are neither kept nor dropped
        seed = (trial, 7)
        d, kept = graddrop(g, seed=seed, leak=leak)
        purity = 0.5 * (1 + g.sum(0) / np.abs(g).sum(0))
        u = hashed_uniform([50], seed).numpy()
        masks = (purity > u) * (g > 0) + (purity < u) * (g < 0)
        masks = leak + (1 - leak) * masks
        np.testing.assert_allclose(np.asarray(d), (masks * g).sum(0), rtol=1e-5, atol=1e-6)
        # Kept share: the kept part of each task's L1 mass.
        np.testing.assert_allclose(np.asarray(kept),
                                   (masks * np.abs(g)).sum(1) / np.abs(g).sum(1), rtol=1e-5)
