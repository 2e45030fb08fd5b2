"""The loss-weight hypermodel builds, compiles and fits every architecture."""

import keras
import keras_tuner
import numpy as np
import pytest

import mtl_keras as mtl
from mtl_keras.tuning import LossWeightHyperModel


def _tasks():
    return [mtl.Task("a", "binary"), mtl.Task("b", "regression")]


BUILDERS = {
    "hard_sharing": lambda x, t: mtl.build_hard_sharing(x, mtl.backbones.mlp([8]), t),
    "soft_sharing": lambda x, t: mtl.build_soft_sharing(x, mtl.backbones.mlp([8]), t),
    "cross_stitch": lambda x, t: mtl.build_cross_stitch(
        x, [mtl.backbones.mlp([8]), mtl.backbones.mlp([8])], t),
    "mmoe": lambda x, t: mtl.build_mmoe(x, t, num_experts=2, expert_units=(8,)),
    "ple": lambda x, t: mtl.build_ple(x, t, num_levels=1, expert_units=(8,)),
}


def test_every_architecture_trains_with_the_trials_weights_and_reports_the_objective():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 3)).astype("float32")
    y = {"a": (x[:, 0] > 0).astype("float32"), "b": x[:, 1]}
    y["a"][::4] = np.nan  # missing labels
    for arch, builder in BUILDERS.items():
        def build(hp, weights, builder=builder):
            model = builder(keras.Input((3,)), _tasks())
            model.compile(optimizer="adam", weighting=weights, jit_compile=False)
            return model

        hm = LossWeightHyperModel(build, _tasks(), objective="delta_m",
                                  baselines={"a": 0.5, "b_mae": 1.0}, normalize="simplex")
        hp = keras_tuner.HyperParameters()
        hp.Fixed("loss_weight/a", 1.0)
        hp.Fixed("loss_weight/b", 3.0)
        model = hm.build(hp)
        assert model.weighting.task_weights == pytest.approx([0.25, 0.75]), arch
        history = hm.fit(hp, model, x, y, validation_data=(x, y), epochs=1, batch_size=12,
                         verbose=0)
        logs = {k: v[-1] for k, v in history.history.items()}
        expected = 100 * ((logs["val_a_accuracy"] - 0.5) / 0.5 - (logs["val_b_mae"] - 1.0)) / 2
        assert logs["val_delta_m"] == pytest.approx(expected, rel=1e-5), arch
