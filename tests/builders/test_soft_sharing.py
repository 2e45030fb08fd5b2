"""Soft parameter sharing: contract, exact independence at strength 0, coupling."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_keras as mtl
from mtl_keras.regularizers import L2Coupling, TraceNormCoupling
from tests.builders._contract import check_architecture, make_batch, make_inputs, make_tasks


def _build(coupling):
    return mtl.build_soft_sharing(make_inputs(), mtl.backbones.mlp([8]), make_tasks(),
                                  coupling=coupling)


def _towers(model):
    return model.trunk.get_layer("towers")


def test_contract_named_towers_and_penalty_survive_saving(tmp_path):
    model = _build(L2Coupling(0.05, layers=["dense_0"]))
    assert [t.name for t in _towers(model).towers] == ["tower_a", "tower_b", "tower_c"]
    loaded = check_architecture(model, tmp_path)
    assert loaded.losses and float(loaded.losses[0]) == pytest.approx(float(model.losses[0]))
    assert _towers(loaded).coupling.get_config() == {"strength": 0.05, "layers": ["dense_0"]}
    # The per-task model computes one tower only (it holds every tower's
    # variables, since they live in one layer, but runs one third of the ops).
    assert _matmuls(model.task_model("a")) * 3 == _matmuls(model)


def _matmuls(model):
    x, _ = make_batch()
    spec = {k: tf.TensorSpec((None,) + v.shape[1:], tf.float32) for k, v in x.items()}
    graph = tf.function(lambda inputs: model(inputs)).get_concrete_function(spec).graph
    ops = [op for op in graph.get_operations() if op.type == "MatMul"]
    for f in graph._functions.values():
        ops += [n for n in f.definition.node_def if n.op == "MatMul"]
    return len(ops)


def _tower_distance(model):
    towers = _towers(model).towers
    flat = [np.concatenate([w.ravel() for w in t.get_weights()]) for t in towers]
    return sum(np.linalg.norm(flat[i] - flat[j]) for i in range(3) for j in range(i + 1, 3))


def _train(model, steps, lr=0.05):
    """`steps` full-batch SGD steps, in one epoch."""
    x, y = make_batch(n=16)
    x = {k: np.concatenate([v] * steps) for k, v in x.items()}
    y = {k: np.concatenate([v] * steps) for k, v in y.items()}
    model.compile(optimizer=keras.optimizers.SGD(lr))
    return model.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)


def test_strength_zero_is_exactly_independent_towers():
    keras.utils.set_random_seed(1)
    coupled = _build(L2Coupling(0.0))
    keras.utils.set_random_seed(2)
    independent = _build(None)
    independent.set_weights(coupled.get_weights())
    history = _train(coupled, steps=3)
    _train(independent, steps=3)
    for w0, w1 in zip(coupled.get_weights(), independent.get_weights()):
        np.testing.assert_array_equal(w0, w1)
    assert history.history["soft_sharing_loss"] == [0.0]


@pytest.mark.parametrize("coupling", [L2Coupling(5.0), TraceNormCoupling(2.0)])
def test_large_strength_drives_towers_together(coupling):
    model = _build(coupling)
    before, penalty_before = _tower_distance(model), float(model.losses[0])
    _train(model, steps=30)
    after, penalty_after = _tower_distance(model), float(model.losses[0])
    # Measured (seed 0): 10.75 -> 0.15 (L2), 0.30 (trace norm); 10.92 at strength 0.
    assert after < before / 10, (before, after)
    assert penalty_after < penalty_before / 5


def test_penalty_is_logged_and_added_to_the_loss():
    model = _build(L2Coupling(0.1))
    x, y = make_batch()
    model.compile(optimizer="sgd", weighting={"a": 2.0})
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    towers = [np.concatenate([w.ravel() for w in t.get_weights()])
              for t in _towers(model).towers]
    mean = np.mean(towers, axis=0)
    expected = 0.1 * sum(np.sum((t - mean) ** 2) for t in towers)
    assert logs["soft_sharing_loss"] == pytest.approx(expected, rel=1e-5)
    assert logs["loss"] == pytest.approx(
        2.0 * logs["a_loss"] + logs["b_loss"] + logs["c_loss"] + expected, rel=1e-5)


def test_bad_input_raises_at_build_time():
    tasks = make_tasks()
    towers = {"a": mtl.backbones.mlp([8], name="ta"), "b": mtl.backbones.mlp([8], name="tb"),
              "c": mtl.backbones.mlp([4], name="tc")}
    with pytest.raises(ValueError, match="identical structure"):
        mtl.build_soft_sharing(make_inputs(), towers, tasks, coupling="l2")
    with pytest.raises(ValueError, match="'dense_9', which does not exist"):
        mtl.build_soft_sharing(make_inputs(), mtl.backbones.mlp([8]), tasks,
                               coupling=L2Coupling(0.1, layers=["dense_9"]))
    with pytest.raises(ValueError, match="Expected strength"):
        mtl.build_soft_sharing(make_inputs(), mtl.backbones.mlp([8]), tasks,
                               coupling=TraceNormCoupling(-1.0))
    with pytest.raises(ValueError, match="one tower per task"):
        mtl.build_soft_sharing(make_inputs(), {"a": towers["a"]}, tasks)
    with pytest.raises(ValueError, match="Unknown tower coupling"):
        mtl.build_soft_sharing(make_inputs(), mtl.backbones.mlp([8]), tasks, coupling="l1")


def test_penalty_is_logged_under_a_gradient_method():
    model = _build(L2Coupling(0.1))
    x, y = make_batch()
    model.compile(optimizer="sgd", weighting="cagrad")
    before = float(model.losses[0])
    logs = model.train_on_batch(x, y, return_dict=True)
    # The penalty that went into the step's loss (of the weights before the update).
    assert logs["soft_sharing_loss"] == pytest.approx(before, rel=1e-5)
    assert logs["regularization_loss"] == pytest.approx(before, rel=1e-5)
    assert float(model.losses[0]) != pytest.approx(before, rel=1e-3)   # the step moved them


@pytest.mark.parametrize("weighting", [None, "pcgrad"])
def test_penalty_is_computed_once_per_step(weighting, monkeypatch):
    # The penalty (a trace norm's SVD, say) enters the loss and the log: it
    # must be computed once in the traced step, not once for each.
    model = _build(L2Coupling(0.1))
    x, y = make_batch()
    model.compile(optimizer="sgd", weighting=weighting, jit_compile=False)
    calls = []
    original = L2Coupling.__call__
    monkeypatch.setattr(L2Coupling, "__call__",
                        lambda self, groups: calls.append(1) or original(self, groups))
    model.make_train_function()
    model.train_function(iter([(x, y)]))        # traces the step once
    assert len(calls) == 1
