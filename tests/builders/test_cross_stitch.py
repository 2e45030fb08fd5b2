"""Cross-stitch builder: contract, identity units == independent towers, errors."""

import numpy as np
import pytest
import tensorflow as tf

import mtl_keras as mtl
from tests.builders._contract import check_architecture, make_batch, make_inputs, make_tasks


def _build(self_weight=0.9):
    stages = [mtl.backbones.mlp([8], name="s0"), mtl.backbones.mlp([8], name="s1")]
    return mtl.build_cross_stitch(make_inputs(), stages, make_tasks(), self_weight=self_weight)


def test_contract(tmp_path):
    model = _build()
    names = [layer.name for layer in model.trunk.layers]
    assert {"tower_a_0", "tower_c_1", "cross_stitch_0", "cross_stitch_1"} <= set(names)
    loaded = check_architecture(model, tmp_path)
    np.testing.assert_array_equal(loaded.trunk.get_layer("cross_stitch_1").alpha.numpy(),
                                  model.trunk.get_layer("cross_stitch_1").alpha.numpy())


def test_identity_units_give_exactly_the_independent_towers():
    model = _build(self_weight=1.0)
    x, y = make_batch()
    trunk = model.trunk
    out = model(x)
    for task, head in zip("abc", model.heads):
        rep = trunk.get_layer(f"tower_{task}_1")(trunk.get_layer(f"tower_{task}_0")(x))
        np.testing.assert_array_equal(out[task], head(rep))
    # Task a's loss does not reach the other towers' weights.
    with tf.GradientTape() as tape:
        sums, _ = model.step_losses(y, model(x, training=True))[:2]
        loss_a = sums[0]
    others = trunk.get_layer("tower_b_0").trainable_variables
    for g in tape.gradient(loss_a, others):
        assert g is None or float(tf.reduce_max(tf.abs(g))) == 0.0


def test_bad_input_raises():
    with pytest.raises(ValueError, match="at least two tasks"):
        mtl.build_cross_stitch(make_inputs(), mtl.backbones.mlp([8]), make_tasks()[:1])
    with pytest.raises(ValueError, match="at least one stage"):
        mtl.build_cross_stitch(make_inputs(), [], make_tasks())
    with pytest.raises(TypeError, match="Keras layer"):
        mtl.build_cross_stitch(make_inputs(), ["dense"], make_tasks())
    with pytest.raises(ValueError, match="0 <= self_weight <= 1"):
        mtl.build_cross_stitch(make_inputs(), mtl.backbones.mlp([8]), make_tasks(),
                               self_weight=-0.5)
