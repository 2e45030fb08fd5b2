import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_keras as mtl
from mtl_keras.exporters import signatures as sig
from tests.exporters._models import make_model


def test_input_signature_keeps_named_dict_inputs(model):
    spec = sig.input_signature(model)
    assert sorted(spec) == ["x", "z"]
    assert spec["x"].shape.as_list() == [None, 4] and spec["x"].name == "x"
    assert spec["z"].shape.as_list() == [None, 2] and spec["z"].dtype == tf.float32


def test_input_signature_of_a_single_input():
    spec = sig.input_signature(make_model(dict_inputs=False))
    assert spec.shape.as_list() == [None, 4] and spec.name == "features"


def _matmuls(fn):
    return [op for op in fn.graph.get_operations() if op.type == "MatMul"]


def _captures(fn, keras_variable):
    return any(v is keras_variable.value for v in fn.variables)


def test_per_task_signature_computes_only_its_head(model):
    fns = sig.concrete_functions(model)
    assert list(fns) == ["serving_default", "a", "b", "c"]
    # Trunk: one dense layer; each head: one output dense layer.
    assert len(_matmuls(fns["serving_default"])) == 1 + 3
    for name in "abc":
        assert len(_matmuls(fns[name])) == 1 + 1
        assert len(fns[name].variables) == 2 + 2  # trunk kernel+bias, head kernel+bias
        for head in model.heads:
            assert _captures(fns[name], head.output_dense.kernel) == (head.name == name)
    assert len(fns["serving_default"].variables) == 2 + 3 * 2
    assert all(_captures(fns["serving_default"], h.output_dense.kernel) for h in model.heads)


def test_serving_functions_return_task_keyed_dicts(model):
    feed = sig.random_inputs(model, batch_size=3)
    fns = sig.serving_functions(model)
    full = fns["serving_default"](feed)
    assert sorted(full) == ["a", "b", "c"]
    assert full["b"].shape == (3, 3)
    only_b = fns["b"](feed)
    assert list(only_b) == ["b"]
    np.testing.assert_allclose(only_b["b"], full["b"], rtol=1e-6)


def test_unknown_task_and_non_mtl_model_raise(model):
    with pytest.raises(ValueError, match="Expected task names among"):
        sig.serving_functions(model, ["nope"])
    plain = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(TypeError, match="Expected a `mtl_keras.MultiTaskModel`"):
        sig.check_model(plain)


def test_as_feed_checks_keys(model):
    with pytest.raises(ValueError, match="Missing: \\['z'\\]"):
        sig.as_feed(model, {"x": np.zeros((1, 4))})
