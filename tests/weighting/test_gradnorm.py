"""GradNorm: hand-computed weight updates and the recorded initial losses."""

import numpy as np
import pytest

from mtl_keras.weighting.gradnorm import GradNorm, gradnorm


def test_weight_update_towards_equal_gradient_norms():
    # norms (1, 3), mean 2, targets 2: w1 += 0.025 * 1, w2 -= 0.025 * 3 -> (1.025, 0.925),
    # renormalised to sum 2.
    d, used, new = gradnorm([[1.0, 0.0], [0.0, 3.0]], [1.0, 1.0], [1.0, 1.0])
    np.testing.assert_allclose(np.asarray(d), [1.0, 3.0])
    np.testing.assert_allclose(np.asarray(new), np.array([1.025, 0.925]) * 2 / 1.95, atol=1e-6)


def test_slower_task_gets_more_weight():
    # equal norms, loss ratios (2, 1): r = (4/3, 2/3); alpha = 1 -> targets (4/3, 2/3).
    _, _, new = gradnorm([[1.0, 0.0], [0.0, 1.0]], [1.0, 1.0], [2.0, 1.0], alpha=1.0)
    np.testing.assert_allclose(np.asarray(new), [1.025, 0.975], atol=1e-6)


def test_absent_task_keeps_weight_and_zeros_are_finite():
    d, used, new = gradnorm([[1.0, 0.0], [0.0, 3.0], [5.0, 5.0]], [1.0, 1.0, 0.7],
                            [1.0, 1.0, 1.0], present=[1.0, 1.0, 0.0])
    assert float(new[2]) == pytest.approx(0.7) and float(used[2]) == 0.0
    np.testing.assert_allclose(np.asarray(d), [1.0, 3.0])
    _, _, new = gradnorm(np.zeros((2, 2), "float32"), [1.0, 1.0], [0.0, 0.0])
    np.testing.assert_allclose(np.asarray(new), [1.0, 1.0])


def test_strategy_records_initial_losses_and_config():
    strategy = GradNorm(alpha=1.0, learning_rate=0.1)
    strategy.build_for_tasks(["a", "b"])
    grads = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")
    strategy.combine_gradients(grads, np.array([1.0, 0.0], "float32"),
                               losses=np.array([2.0, 0.0], "float32"))
    np.testing.assert_allclose(strategy.initial_losses.numpy(), [2.0, 0.0])
    strategy.combine_gradients(grads, np.ones(2, "float32"),
                               losses=np.array([1.0, 4.0], "float32"))
    np.testing.assert_allclose(strategy.initial_losses.numpy(), [2.0, 4.0])
    clone = GradNorm.from_config(strategy.get_config())
    assert (clone.alpha, clone.learning_rate) == (1.0, 0.1)
    with pytest.raises(ValueError, match="Expected learning_rate to be finite and > 0. "
                                         "Received: learning_rate=0.0"):
        GradNorm(learning_rate=0.0)
