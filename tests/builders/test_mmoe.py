"""MMoE builder: contract, gates, every expert trained, every weighting method, errors."""

import keras
import numpy as np
import pytest

import mtl_keras as mtl
from tests.builders._contract import check_architecture, make_batch, make_inputs, make_tasks


def _build(**kwargs):
    kwargs = {"num_experts": 3, "expert_units": (8,), **kwargs}
    return mtl.build_mmoe(make_inputs(), make_tasks(), **kwargs)


def test_contract_gates_sum_to_one_and_every_expert_learns(tmp_path):
    model = _build(top_k=2)
    layer = model.trunk.get_layer("mmoe")
    x, _ = make_batch()
    merged = np.concatenate([x["i"], x["m"]], axis=1)   # sorted input names
    for gate_w in layer.gate_weights(merged):
        np.testing.assert_allclose(np.sum(gate_w, axis=1), np.ones(8), rtol=1e-6)
        assert np.all(np.sum(gate_w.numpy() > 0, axis=1) <= 2)   # top-2
    before = [e.get_weights()[0].copy() for e in layer.experts]
    check_architecture(model, tmp_path)   # trains one step
    for b, e in zip(before, layer.experts):
        assert np.abs(e.get_weights()[0] - b).max() > 0.0, e.name


def test_every_loss_weighting_method_and_a_gradient_method_train():
    # Every loss-level method, plus one gradient method per mode: the gradient
    # step itself is architecture-agnostic and tested with the methods.
    x, y = make_batch()
    methods = [m for m in mtl.weighting.available()
               if not mtl.weighting.get(m).combines_gradients] + ["cagrad", "mgda_ub"]
    assert len(methods) >= 4
    for method in methods:
        keras.backend.clear_session()
        model = _build(num_experts=2)
        if getattr(mtl.weighting.get(method), "mode", None) == "representation":
            # Gradients w.r.t. *the* shared representation: MMoE has one per task
            # (refused when compiling, before any data is read).
            with pytest.raises(ValueError, match="shared representation"):
                model.compile(optimizer="sgd", weighting=method, run_eagerly=True)
            continue
        model.compile(optimizer="sgd", weighting=method, run_eagerly=True)
        history = model.fit(x, y, epochs=1, batch_size=8, verbose=0)
        assert np.isfinite(history.history["loss"][0]), method


def test_bad_input_raises_at_build_time():
    with pytest.raises(ValueError, match="num_experts to be an int >= 1"):
        _build(num_experts=0)
    with pytest.raises(ValueError,
                       match=r"Expected top_k to be None or an int in \[1, 3\]. Received: top_k=4"):
        _build(top_k=4)
