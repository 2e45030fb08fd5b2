"""benchmarks/mmoe_small_tables.py: gate statistics and reading the gates of a trained model."""

import importlib.util
import math
import os
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_keras as mtl

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks")


@pytest.fixture
def script(monkeypatch):
    # The script imports its neighbours `_common` and `tables` as a run script does.
    monkeypatch.syspath_prepend(BENCHMARKS)
    spec = importlib.util.spec_from_file_location(
        "benchmarks_mmoe_small_tables", os.path.join(BENCHMARKS, "mmoe_small_tables.py"))
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclass looks itself up
    spec.loader.exec_module(module)
    yield module
    for name in ("_common", "tables"):
        sys.modules.pop(name, None)


def test_gate_statistics_by_hand(script):
    # Row 1 uniform over 2 experts: entropy log 2, normalized 1.
    # Row 2 one-hot: entropy 0. Mean normalized entropy 0.5.
    # Shares: expert 0 (0.5 + 1) / 2 = 0.75, expert 1 0.25.
    stats = script.gate_statistics([[0.5, 0.5], [1.0, 0.0]])
    assert stats["entropy"] == pytest.approx(0.5)
    assert stats["shares"] == pytest.approx([0.75, 0.25])
    assert stats["max_share"] == pytest.approx(0.75)


def test_gate_statistics_of_a_skewed_gate_over_four_experts(script):
    # -(0.7 log 0.7 + 3 * 0.1 log 0.1) / log 4 = (0.24967 + 0.69078) / 1.38629 = 0.67839
    w = [[0.7, 0.1, 0.1, 0.1], [0.1, 0.7, 0.1, 0.1]]
    expected = -(0.7 * math.log(0.7) + 3 * 0.1 * math.log(0.1)) / math.log(4)
    stats = script.gate_statistics(w)
    assert stats["entropy"] == pytest.approx(expected)
    assert expected == pytest.approx(0.67839, abs=1e-5)
    assert stats["shares"] == pytest.approx([0.4, 0.4, 0.1, 0.1])
    assert stats["max_share"] == pytest.approx(0.4)


@pytest.mark.parametrize("weights, message", [
    ([[1.0], [1.0]], "experts >= 2"),
    ([0.5, 0.5], "experts >= 2"),
    ([[0.6, 0.6]], "sum to 1"),
    ([[1.5, -0.5]], "non-negative"),
])
def test_gate_statistics_rejects_what_is_not_a_gate(script, weights, message):
    with pytest.raises(ValueError, match=message):
        script.gate_statistics(weights)


def _set_gate(gate, logits_bias):
    """Zero kernel, fixed bias: the gate outputs softmax(bias) for every sample."""
    kernel, _ = gate.dense.get_weights()
    gate.dense.set_weights([np.zeros_like(kernel), np.asarray(logits_bias, "float32")])


def _dataset(x):
    labels = {"a": np.zeros((len(x), 1), "float32"), "b": np.zeros((len(x), 1), "float32")}
    return tf.data.Dataset.from_tensor_slices((x, labels)).batch(3)


def test_gate_outputs_of_mmoe_read_every_sample_of_every_task(script):
    keras.utils.set_random_seed(0)
    tasks = [mtl.Task("a", "regression"), mtl.Task("b", "regression")]
    model = mtl.build_mmoe(keras.Input((4,)), tasks, num_experts=3, expert_units=(8,))
    layer = model.trunk.get_layer("mmoe")
    _set_gate(layer.gates[0], [0.0, 0.0, 0.0])              # uniform: 1/3 each
    _set_gate(layer.gates[1], [math.log(2.0), 0.0, 0.0])    # 2/4, 1/4, 1/4
    x = np.random.default_rng(0).normal(size=(7, 4)).astype("float32")
    outputs = script.gate_outputs(model, _dataset(x))
    assert sorted(outputs) == ["a", "b"]
    np.testing.assert_allclose(outputs["a"], np.full((7, 3), 1 / 3), rtol=1e-6)
    np.testing.assert_allclose(outputs["b"], np.tile([0.5, 0.25, 0.25], (7, 1)), rtol=1e-6)
    # -(0.5 log 0.5 + 2 * 0.25 log 0.25) / log 3 = 1.5 log 2 / log 3 = 0.94639
    assert script.gate_statistics(outputs["b"])["entropy"] == pytest.approx(
        1.5 * math.log(2) / math.log(3), rel=1e-6)


def test_gate_outputs_of_ple_name_each_level_and_the_shared_gate(script):
    keras.utils.set_random_seed(0)
    tasks = [mtl.Task("a", "regression"), mtl.Task("b", "regression")]
    model = mtl.build_ple(keras.Input((4,)), tasks, num_levels=2, expert_units=(8,))
    last = model.trunk.get_layer("ple_level_1")
    _set_gate(last.gates[1], [0.0, math.log(3.0)])  # own expert 1/4, shared expert 3/4
    x = np.random.default_rng(1).normal(size=(5, 4)).astype("float32")
    outputs = script.gate_outputs(model, _dataset(x))
    # Level 0 has task gates over (own, shared) and a shared gate over all 3 experts.
    assert sorted(outputs) == ["ple_level_0/a", "ple_level_0/b", "ple_level_0/shared",
                               "ple_level_1/a", "ple_level_1/b"]
    assert outputs["ple_level_0/shared"].shape == (5, 3)
    np.testing.assert_allclose(outputs["ple_level_1/b"], np.tile([0.25, 0.75], (5, 1)),
                               rtol=1e-6)


def test_gate_outputs_need_a_gated_model(script):
    model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]),
                                   [mtl.Task("a", "regression")])
    with pytest.raises(ValueError, match="MMoE or CGC"):
        script.gate_outputs(model, _dataset(np.zeros((2, 4), "float32")))
