"""ParallelTowers: per-task calls, the coupling penalty in `losses`, config."""

import numpy as np
import pytest

import mtl_keras as mtl
from mtl_keras.layers import MLP, ParallelTowers
from mtl_keras.regularizers import L2Coupling


def _layer(coupling):
    layer = ParallelTowers([MLP((3,), name="tower_a"), MLP((3,), name="tower_b")],
                           task_names=["a", "b"], coupling=coupling)
    layer.build((None, 2))
    return layer


def test_task_call_runs_one_tower_and_none_runs_all():
    layer = _layer(None)
    x = np.array([[1.0, -2.0]], "float32")
    both = layer(x)
    np.testing.assert_allclose(layer(x, task="b"), layer.tower("b")(x))
    np.testing.assert_allclose(both["a"], layer.tower("a")(x))
    with pytest.raises(ValueError, match="Expected task to be one of"):
        layer(x, task="c")
    assert layer.losses == [] and layer.penalty() is None


def test_penalty_is_hand_computed_l2_in_losses():
    layer = _layer(L2Coupling(0.5, layers=["dense_0"]))
    ka = np.arange(6, dtype="float32").reshape(2, 3)
    kb = np.zeros((2, 3), "float32")
    layer.tower("a").set_weights([ka, np.ones(3, "float32")])
    layer.tower("b").set_weights([kb, np.zeros(3, "float32")])
    # Kernels: mean = ka / 2, sum_t ||W_t - mean||^2 = 2 * ||ka / 2||^2 = 55 / 2;
    # biases: 2 * 3 * 0.25 = 1.5. Strength 0.5 -> (27.5 + 1.5) / 2 = 14.5.
    assert len(layer.losses) == 1
    assert float(layer.losses[0]) == pytest.approx(14.5)
    layer_zero = _layer(L2Coupling(0.0))
    assert layer_zero.losses == [] and layer_zero.penalty() is None


def test_config_round_trip_and_bad_arguments():
    layer = _layer(L2Coupling(0.25, layers=["dense_0"]))
    clone = ParallelTowers.from_config(layer.get_config())
    assert clone.task_names == ["a", "b"]
    assert [t.name for t in clone.towers] == ["tower_a", "tower_b"]
    assert clone.coupling.get_config() == {"strength": 0.25, "layers": ["dense_0"]}
    with pytest.raises(ValueError, match="one tower per"):
        ParallelTowers([MLP((3,))], task_names=["a", "b"])
    with pytest.raises(TypeError, match="list of Keras layers"):
        ParallelTowers(["dense"], task_names=["a"])
    bad = ParallelTowers([MLP((3,), name="tower_a"), MLP((4,), name="tower_b")],
                         task_names=["a", "b"], coupling="trace_norm")
    with pytest.raises(ValueError, match="identical structure"):
        bad.build((None, 2))
    assert mtl.layers.ParallelTowers is ParallelTowers
