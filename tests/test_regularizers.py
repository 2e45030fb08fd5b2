"""Tower-coupling penalties: hand-computed values and gradients, groups, errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_keras as mtl
from mtl_keras.regularizers import L2Coupling, TowerCoupling, TraceNormCoupling


def _value_and_grads(reg, groups):
    variables = [[tf.Variable(np.asarray(w, "float32")) for w in g] for g in groups]
    with tf.GradientTape() as tape:
        value = reg(variables)
    grads = tape.gradient(value, [v for g in variables for v in g])
    return float(value), [g.numpy() for g in grads]


def test_l2_two_towers_value_and_gradient():
    # mean = [2, 4]; sum_t ||W_t - mean||^2 = (1 + 4) + (1 + 4) = 10; * 0.5 = 5.
    # dOmega/dW_t = 2 * 0.5 * (W_t - mean): [-1, -2] and [1, 2].
    value, grads = _value_and_grads(L2Coupling(0.5), [[[1.0, 2.0], [3.0, 6.0]]])
    assert value == pytest.approx(5.0)
    np.testing.assert_allclose(grads[0], [-1.0, -2.0], atol=1e-6)
    np.testing.assert_allclose(grads[1], [1.0, 2.0], atol=1e-6)


def test_l2_three_towers_is_pairwise_over_t_and_sums_groups():
    # Group 1: scalars 0, 3, 6 -> mean 3 -> 9 + 0 + 9 = 18
    #   (pairwise: (9 + 36 + 9) / 3 = 18).
    # Group 2: 2x1 matrices [[1],[1]], [[1],[1]], [[4],[1]] -> mean [[2],[1]]
    #   -> 1 + 1 + 4 = 6. Total 24, strength 1.
    groups = [
        [[0.0], [3.0], [6.0]],
        [[[1.0], [1.0]], [[1.0], [1.0]], [[4.0], [1.0]]],
    ]
    value, grads = _value_and_grads(L2Coupling(1.0), groups)
    assert value == pytest.approx(24.0)
    np.testing.assert_allclose(grads[0], [-6.0])
    np.testing.assert_allclose(grads[5], [[4.0], [0.0]])


def test_trace_norm_value_and_gradient():
    # M = [[3, 0], [0, 4]]: singular values 4 and 3, ||M||_* = 7; U V^T = I.
    value, grads = _value_and_grads(TraceNormCoupling(2.0), [[[3.0, 0.0], [0.0, 4.0]]])
    assert value == pytest.approx(14.0)
    np.testing.assert_allclose(grads[0], [2.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(grads[1], [0.0, 2.0], atol=1e-6)


def test_trace_norm_of_a_matrix_weight_flattens_each_tower():
    # W_1 = [[1, 0], [0, 0]], W_2 = [[0, 0], [0, 1]] -> rows e1 and e4 of R^4:
    # orthonormal rows, singular values 1 and 1, norm 2; gradient = M itself.
    w1 = [[1.0, 0.0], [0.0, 0.0]]
    w2 = [[0.0, 0.0], [0.0, 1.0]]
    value, grads = _value_and_grads(TraceNormCoupling(1.0), [[w1, w2]])
    assert value == pytest.approx(2.0)
    np.testing.assert_allclose(grads[0], w1, atol=1e-6)
    np.testing.assert_allclose(grads[1], w2, atol=1e-6)


def test_trace_norm_gradient_is_finite_for_identical_towers():
    # M = [[1, 1], [1, 1]]: rank 1, sigma = (2, 0), ||M||_* = 2. The gradient
    # is a subgradient G: spectral norm <= 1 and <G, M> = ||M||_*.
    value, grads = _value_and_grads(TraceNormCoupling(1.0), [[[1.0, 1.0], [1.0, 1.0]]])
    g = np.stack(grads)
    assert value == pytest.approx(2.0, abs=1e-5)
    assert np.all(np.isfinite(g))
    assert np.linalg.norm(g, 2) <= 1.0 + 1e-5
    assert float(np.sum(g * np.ones((2, 2)))) == pytest.approx(2.0, abs=1e-5)


def test_zero_strength_is_zero():
    assert float(L2Coupling(0.0)([[[1.0], [5.0]]])) == 0.0
    assert float(TraceNormCoupling(0.0)([[[1.0], [5.0]]])) == 0.0


def test_bad_strength_and_layers_raise():
    for strength in (-0.1, float("nan"), float("inf"), "big"):
        with pytest.raises(ValueError, match="Expected strength"):
            L2Coupling(strength)
    for layers in ("dense_0", [], [""], [3]):
        with pytest.raises(ValueError, match="Expected layers"):
            TraceNormCoupling(0.1, layers=layers)


def _towers(*units):
    towers = [mtl.layers.MLP(u, name=f"tower_{i}") for i, u in enumerate(units)]
    for t in towers:
        t.build((None, 3))
    return towers


def test_resolve_groups_by_position_and_by_layer_name():
    towers = _towers((4, 2), (4, 2))
    # Weights: dense_0 kernel, bias, dense_1 kernel, bias.
    assert L2Coupling(1.0).resolve_groups(towers) == [0, 1, 2, 3]
    assert L2Coupling(1.0, layers=["dense_1"]).resolve_groups(towers) == [2, 3]


def test_resolve_groups_rejects_different_structures():
    with pytest.raises(ValueError, match="identical structure"):
        L2Coupling(1.0).resolve_groups(_towers((4, 2), (5, 2)))


def test_resolve_groups_rejects_unknown_layer_and_single_tower():
    with pytest.raises(ValueError, match="'dense_7', which does not exist in tower"):
        L2Coupling(1.0, layers=["dense_7"]).resolve_groups(_towers((4,), (4,)))
    with pytest.raises(ValueError, match="at least two towers"):
        L2Coupling(1.0).resolve_groups(_towers((4,)))


def test_get_and_serialization_round_trip():
    assert isinstance(mtl.regularizers.get("l2"), L2Coupling)
    assert isinstance(mtl.regularizers.get("trace-norm"), TraceNormCoupling)
    assert mtl.regularizers.get(None) is None
    with pytest.raises(ValueError, match="Unknown tower coupling 'l1'"):
        mtl.regularizers.get("l1")
    with pytest.raises(TypeError, match="Expected coupling"):
        mtl.regularizers.get(3)
    for reg in (L2Coupling(0.3, layers=["dense_0"]), TraceNormCoupling(2.0)):
        config = mtl.regularizers.serialize(reg)
        assert config["registered_name"].startswith("mtl_keras>")
        back = mtl.regularizers.get(config)
        assert type(back) is type(reg) and back.get_config() == reg.get_config()
        assert isinstance(keras.saving.deserialize_keras_object(config), TowerCoupling)
