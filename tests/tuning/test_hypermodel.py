"""LossWeightHyperModel: the weight search space, normalization, fixed weights, build checks."""

import keras
import keras_tuner
import numpy as np
import pytest

import mtl_keras as mtl
from mtl_keras.tuning import LossWeightHyperModel


def _tasks():
    return [mtl.Task("a", "binary"), mtl.Task("b", "regression"), mtl.Task("c", "regression")]


def _build(hp, weights):
    return mtl.build_hard_sharing(keras.Input((3,)), mtl.backbones.mlp([8]), _tasks())


def test_space_has_one_weight_per_free_task_and_the_users_hyperparameters():
    def build(hp, weights):
        units = hp.Int("units", 8, 16, step=8)
        return mtl.build_hard_sharing(keras.Input((3,)), mtl.backbones.mlp([units]), _tasks())

    hm = LossWeightHyperModel(build, _tasks(), objective="a_accuracy", fixed={"c": 0.5})
    hp = keras_tuner.HyperParameters()
    model = hm.build(hp)
    assert sorted(hp.values) == ["loss_weight/a", "loss_weight/b", "units"]
    assert hp.get("loss_weight/a") == 0.1  # KerasTuner's default: the minimum
    space = {p.name: p for p in hp.space}
    assert space["loss_weight/a"].sampling == "log"
    assert (space["loss_weight/a"].min_value, space["loss_weight/a"].max_value) == (0.1, 10.0)
    # Compiled with the trial's weights: free ones averaged to 1, c fixed.
    assert model.weighting.task_weights == [1.0, 1.0, 0.5]


def test_normalization_of_free_weights_keeps_fixed_ones():
    for normalize, expected in [
        ("mean", {"a": 0.5, "b": 1.5, "c": 0.25}),     # 1 and 3 -> sum 2
        ("simplex", {"a": 0.25, "b": 0.75, "c": 0.25}),  # 1 and 3 -> sum 1
        (None, {"a": 1.0, "b": 3.0, "c": 0.25}),
    ]:
        hm = LossWeightHyperModel(_build, _tasks(), objective="a", fixed={"c": 0.25},
                                  normalize=normalize, sampling="uniform")
        got = hm.weights_from_values({"loss_weight/a": 1.0, "loss_weight/b": 3.0})
        assert got == pytest.approx(expected), normalize


def test_uniform_sampling_and_grid_step():
    hm = LossWeightHyperModel(_build, _tasks(), objective="a", sampling="uniform",
                              min_weight=0.5, max_weight=2.0, step=0.5)
    hp = keras_tuner.HyperParameters()
    hm.declare_weights(hp)
    p = {q.name: q for q in hp.space}["loss_weight/b"]
    assert (p.sampling, p.step) == ("linear", 0.5)
    assert [p._get_value_by_index(i) for i in range(p._get_n_values())] == [0.5, 1.0, 1.5, 2.0]


BAD_INPUTS = [
    ({"fixed": {"a": 1.0, "b": 1.0, "c": 1.0}}, "at least one task whose weight is searched"),
    ({"fixed": {"a": 1.0, "b": 1.0}}, "at least two free weights"),
    ({"fixed": {"zzz": 1.0}}, "unknown tasks: \\['zzz'\\]"),
    ({"fixed": {"a": -1.0}}, "finite and >= 0"),
    ({"sampling": "exp"}, "Expected sampling"),
    ({"normalize": "max"}, "Expected normalize"),
    ({"min_weight": 0.0}, "min_weight > 0 for log"),
    ({"min_weight": 2.0, "max_weight": 1.0}, "min_weight < max_weight"),
    ({"step": 0.5}, "multiplier"),
    ({"objective": "a_mae"}, "Expected an objective metric"),
    ({"objective": "val_loss"}, "does not depend on the loss weights"),
    ({"objective": "delta_m", "baselines": {"a": 0.5}}, "missing tasks: \\['b', 'c'\\]"),
]


def test_bad_search_spaces_raise_at_construction():
    for kwargs, match in BAD_INPUTS:
        kwargs = {"objective": "a", **kwargs}
        with pytest.raises(ValueError, match=match):
            LossWeightHyperModel(_build, _tasks(), **kwargs)


def test_single_free_weight_is_fine_without_normalization():
    hm = LossWeightHyperModel(_build, _tasks(), objective="a", fixed={"a": 1.0, "b": 1.0},
                              normalize=None)
    assert hm.free_tasks == ["c"]
    assert hm.weights_from_values({"loss_weight/c": 4.0}) == {"a": 1.0, "b": 1.0, "c": 4.0}


def test_build_fn_that_compiles_with_other_weights_is_a_fatal_error():
    def build(hp, weights):
        model = _build(hp, weights)
        model.compile(optimizer="adam", weighting={"a": 1.0, "b": 1.0, "c": 1.0})
        return model

    hm = LossWeightHyperModel(build, _tasks(), objective="a", normalize=None)
    hp = keras_tuner.HyperParameters()
    hp.Fixed("loss_weight/a", 3.0)
    with pytest.raises(keras_tuner.errors.FatalValueError, match="weighting=weights"):
        hm.build(hp)


def test_build_fn_that_compiles_with_the_weights_is_accepted():
    def build(hp, weights):
        model = _build(hp, weights)
        model.compile(optimizer=keras.optimizers.SGD(0.1), weighting=weights)
        return model

    hm = LossWeightHyperModel(build, _tasks(), objective="a")
    model = hm.build(keras_tuner.HyperParameters())
    assert isinstance(model.optimizer, keras.optimizers.SGD)


def test_build_fn_returning_something_else_is_a_fatal_error():
    hm = LossWeightHyperModel(lambda hp, w: keras.Sequential([keras.layers.Dense(1)]),
                              _tasks(), objective="a")
    with pytest.raises(keras_tuner.errors.FatalTypeError, match="MultiTaskModel"):
        hm.build(keras_tuner.HyperParameters())


def test_fit_requires_validation_data():
    hm = LossWeightHyperModel(_build, _tasks(), objective="a")
    hp = keras_tuner.HyperParameters()
    model = hm.build(hp)
    x = np.zeros((4, 3), "float32")
    y = {"a": np.zeros(4), "b": np.zeros(4), "c": np.zeros(4)}
    with pytest.raises(keras_tuner.errors.FatalValueError, match="validation_data"):
        hm.fit(hp, model, x, y, epochs=1, verbose=0)


def test_optimizer_callable_receives_hp():
    seen = []

    def optimizer(hp):
        seen.append(hp.Float("lr", 1e-3, 1e-1, sampling="log"))
        return keras.optimizers.Adam(seen[-1])

    hm = LossWeightHyperModel(_build, _tasks(), objective="a", optimizer=optimizer)
    hp = keras_tuner.HyperParameters()
    model = hm.build(hp)
    assert seen == [0.001] and "lr" in hp.values
    assert float(model.optimizer.learning_rate) == pytest.approx(0.001)
