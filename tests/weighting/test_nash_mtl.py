"""Nash-MTL: the bargaining condition G G^T alpha = 1 / alpha."""

import numpy as np
import pytest

from mtl_keras.weighting.nash_mtl import NashMTL, nash_mtl


def test_orthogonal_closed_form():
    # K = diag(1, 4): alpha_i = 1 / ||g_i||.
    d, w = nash_mtl([[1.0, 0.0], [0.0, 2.0]])
    np.testing.assert_allclose(np.asarray(w), [1.0, 0.5], atol=1e-4)
    np.testing.assert_allclose(np.asarray(d), [1.0, 1.0], atol=1e-4)


@pytest.mark.parametrize("grads", [
    [[10.0, 0.0], [1.0, 1.0]],                                      # one dominating
    np.random.default_rng(0).normal(size=(3, 5)).tolist(),
])
def test_bargaining_condition(grads):
    g = np.asarray(grads, "float64")
    d, w = nash_mtl(np.asarray(grads, "float32"))
    w = np.asarray(w, "float64")
    assert np.all(w > 0)
    # every task's utility g_i . d equals 1 / alpha_i
    np.testing.assert_allclose(g @ np.asarray(d, "float64"), 1.0 / w, rtol=2e-3)


def test_scale_invariance_opposed_and_zeros():
    g = np.random.default_rng(1).normal(size=(2, 4)).astype("float32")
    d1, _ = nash_mtl(g)
    d2, _ = nash_mtl(100.0 * g)
    np.testing.assert_allclose(np.asarray(d1), np.asarray(d2), rtol=1e-3, atol=1e-5)
    d, w = nash_mtl([[1.0, 2.0], [-1.0, -2.0]])
    np.testing.assert_allclose(np.asarray(d), [0.0, 0.0], atol=1e-3)
    assert np.all(np.isfinite(np.asarray(w)))
    d, w = nash_mtl(np.zeros((3, 2), "float32"))
    assert np.all(np.asarray(w) == 0) and np.all(np.asarray(d) == 0)


def test_absent_task_and_config():
    d, w = nash_mtl([[1.0, 0.0], [5.0, 5.0], [0.0, 2.0]], present=[1.0, 0.0, 1.0])
    np.testing.assert_allclose(np.asarray(w), [1.0, 0.0, 0.5], atol=1e-4)
    clone = NashMTL.from_config(NashMTL(num_steps=5, ridge=1e-3).get_config())
    assert (clone.num_steps, clone.ridge) == (5, 1e-3)
    with pytest.raises(ValueError, match="Expected ridge"):
        NashMTL(ridge=0.0)
