import numpy as np
import pytest

import keras
import mtl_keras as mtl


def test_outputs_dict_heads_named_after_tasks():
    tasks = [mtl.Task("a", "multiclass", num_classes=4, head_units=(5,)),
             mtl.Task("b", "multilabel", num_classes=2), mtl.Task("c", "regression",
                                                                  output_size=3)]
    model = mtl.build_hard_sharing(keras.Input((6,)), mtl.backbones.mlp([8]), tasks)
    out = model(np.zeros((2, 6), "float32"))
    assert {k: tuple(v.shape) for k, v in out.items()} == {"a": (2, 4), "b": (2, 2),
                                                          "c": (2, 3)}
    assert [h.name for h in model.heads] == ["a", "b", "c"]
    assert model.has_shared_representation
    np.testing.assert_allclose(np.sum(out["a"], axis=-1), 1.0, rtol=1e-6)   # softmax
    assert model.heads[0].hidden_layers[0].units == 5


def test_preprocessing_is_part_of_the_model():
    norm = keras.layers.Normalization()
    norm.adapt(np.array([[0.0], [2.0]], "float32"))   # mean 1, variance 1
    inputs = {"x": keras.Input((1,), name="x"), "y": keras.Input((1,), name="y")}
    model = mtl.build_hard_sharing(inputs, mtl.backbones.mlp([2]), [mtl.Task("t", "binary")],
                                   preprocessing={"x": norm})
    assert "normalization" in [l.name for l in model.trunk.layers]
    with pytest.raises(ValueError, match=r"inputs that do not exist: \['z'\]"):
        mtl.build_hard_sharing(inputs, mtl.backbones.mlp([2]), [mtl.Task("t", "binary")],
                               preprocessing={"z": norm})


def test_bad_arguments():
    with pytest.raises(TypeError, match="Expected inputs"):
        mtl.build_hard_sharing("x", mtl.backbones.mlp([2]), [mtl.Task("t", "binary")])
    with pytest.raises(TypeError, match="Expected backbone"):
        mtl.build_hard_sharing(keras.Input((2,)), "mlp", [mtl.Task("t", "binary")])
    with pytest.raises(ValueError, match="non-empty list"):
        mtl.build_hard_sharing(keras.Input((2,)), mtl.backbones.mlp([2]), [])
