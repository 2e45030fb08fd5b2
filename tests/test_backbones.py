import numpy as np
import pytest

import keras
import mtl_keras as mtl


def test_mlp_concatenates_dict_inputs_in_sorted_order():
    mlp = mtl.backbones.mlp([3])
    a = np.ones((2, 1), "float32")
    b = np.zeros((2, 2), "float32")
    out1 = mlp({"b": b, "a": a})
    out2 = mlp({"a": a, "b": b})
    np.testing.assert_array_equal(out1, out2)
    # Sorted order: the kernel's first row multiplies "a".
    kernel = mlp.blocks[0][0].kernel.numpy()
    bias = mlp.blocks[0][0].bias.numpy()
    np.testing.assert_allclose(out1[0], np.maximum(kernel[0] + bias, 0), rtol=1e-6)


def test_conv_encoder_shapes_and_blocks():
    enc = mtl.backbones.conv(filters=(4, 8), dense_units=16)
    assert enc(np.zeros((2, 28, 28), "float32")).shape == (2, 16)
    assert enc(np.zeros((2, 28, 28, 1), "float32")).shape == (2, 16)
    assert len(enc.convs) == 2 and len(enc.pools) == 2
    # 28 -> 14 -> 7 after two 2x2 pools; dense sees 7*7*8 features.
    assert enc.dense.kernel.shape == (7 * 7 * 8, 16)


@pytest.mark.slow
def test_wrap_keras_application_as_backbone():
    net = keras.applications.MobileNet(
        input_shape=(32, 32, 3), alpha=0.25, weights=None, include_top=False, pooling="avg")
    backbone = mtl.backbones.wrap(net)
    assert backbone is net
    model = mtl.build_hard_sharing(keras.Input((32, 32, 3)), backbone,
                                   [mtl.Task("a", "binary"), mtl.Task("b", "regression")])
    model.compile()
    x = np.random.rand(4, 32, 32, 3).astype("float32")
    logs = model.train_on_batch(x, {"a": np.array([0, 1, 0, 1]), "b": np.ones(4, "float32")},
                                return_dict=True)
    assert np.isfinite(logs["loss"])
    assert model.predict(x, verbose=0)["a"].shape == (4, 1)


def test_bad_backbones():
    with pytest.raises(TypeError, match="Expected a `keras.Model`"):
        mtl.backbones.wrap(lambda x: x)
    with pytest.raises(ValueError, match="Expected units"):
        mtl.backbones.mlp([])
    with pytest.raises(ValueError, match="Expected filters"):
        mtl.backbones.conv(filters=())
    with pytest.raises(ValueError, match=r"\(batch, height, width\)"):
        mtl.backbones.conv()(np.zeros((2, 5), "float32"))
    conv_no_pool = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3)])
    with pytest.raises(ValueError, match="pooling='avg'"):
        mtl.build_hard_sharing(keras.Input((8, 8, 1)), conv_no_pool, [mtl.Task("a", "binary")])


def test_clone_gives_same_structure_new_weights():
    mlp = mtl.backbones.mlp([4])
    mlp(np.zeros((1, 3), "float32"))
    copy = mtl.backbones.clone(mlp, "tower_a")
    copy(np.zeros((1, 3), "float32"))
    assert copy.name == "tower_a" and copy.units == mlp.units
    assert not np.allclose(copy.blocks[0][0].kernel.numpy(), mlp.blocks[0][0].kernel.numpy())
