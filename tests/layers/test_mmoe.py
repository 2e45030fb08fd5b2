"""MMoE: gates sum to 1 per task, outputs are the gated mix, every expert learns."""

import numpy as np
import pytest
import tensorflow as tf

from mtl_keras.layers import ExpertGate, MMoE


def test_outputs_are_gate_weighted_experts_and_gates_sum_to_one():
    layer = MMoE(["a", "b", "c"], num_experts=3, expert_units=(4,))
    x = np.random.rand(6, 5).astype("float32")
    outputs = layer(x)
    experts = [e(x) for e in layer.experts]
    for gate_w, out in zip(layer.gate_weights(x), outputs):
        np.testing.assert_allclose(np.sum(gate_w, axis=1), np.ones(6), rtol=1e-6)
        expected = sum(gate_w[:, i:i + 1] * experts[i] for i in range(3))
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_every_expert_and_gate_receives_gradient():
    layer = MMoE(["a", "b"], num_experts=3, expert_units=(4,))
    x = np.random.rand(8, 5).astype("float32")
    with tf.GradientTape() as tape:
        loss = sum(tf.reduce_sum(tf.square(o - 1.0)) for o in layer(x))
    grads = tape.gradient(loss, layer.trainable_variables)
    by_var = {v.path: g for v, g in zip(layer.trainable_variables, grads)}
    for part in layer.experts + layer.gates:
        kernel = part.trainable_variables[0]
        assert float(tf.reduce_sum(tf.abs(by_var[kernel.path]))) > 0.0, part.name


def test_bad_arguments_raise_and_config_round_trips():
    with pytest.raises(ValueError, match="num_experts to be an int >= 1"):
        MMoE(["a"], num_experts=0)
    with pytest.raises(ValueError, match="top_k"):
        MMoE(["a"], num_experts=2, top_k=3)
    config = MMoE(["a", "b"], num_experts=2, expert_units=(4,), top_k=1).get_config()
    clone = MMoE.from_config(config)
    assert (clone.task_names, clone.num_experts, clone.top_k) == (["a", "b"], 2, 1)
    assert isinstance(clone.gates[0], ExpertGate)
