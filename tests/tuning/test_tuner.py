"""LossWeightTuner: real (tiny) searches with every KerasTuner tuner, results, summary, plot."""

import json
import os

import keras
import keras_tuner
import numpy as np
import pytest
import tensorflow as tf

import mtl_keras as mtl
from mtl_keras.tuning import LossWeightHyperModel, LossWeightTuner, get_tuner_class


def _tasks():
    return [mtl.Task("a", "binary"), mtl.Task("b", "regression")]


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    a = (x[:, 0] > 0).astype("float32")
    b = (x[:, 1] + 0.5 * x[:, 2]).astype("float32")
    a[::5] = np.nan      # missing labels for task a only
    b[1::7] = np.nan     # and for task b only
    return x, {"a": a, "b": b}


def _dataset(n=48, seed=0):
    x, y = _data(n, seed)
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(16)


def _hard(hp, weights):
    units = hp.Choice("units", [8, 16])
    return mtl.build_hard_sharing(keras.Input((3,)), mtl.backbones.mlp([units]), _tasks())


def _soft(hp, weights):
    """A trunk with one representation per task (soft-sharing shape)."""
    x = keras.Input((3,))
    shared = keras.layers.Dense(8, activation="relu")(x)
    reps = {"a": keras.layers.Dense(8, activation="relu")(shared),
            "b": keras.layers.Dense(8, activation="relu")(shared)}
    return mtl.MultiTaskModel(keras.Model(x, reps), _tasks())


def test_random_search_with_tf_data_missing_labels_and_early_stopping(tmp_path):
    tuner = LossWeightTuner(
        LossWeightHyperModel(_hard, _tasks(), objective="delta_m", baselines={"a": 0.5, "b": 1.0},
                             seed=1),
        max_trials=3, directory=str(tmp_path), project_name="p")
    stop = keras.callbacks.EarlyStopping(monitor="val_delta_m", mode="max", patience=0)
    tuner.search(_dataset(), validation_data=_dataset(32, 1), epochs=2, verbose=0,
                 callbacks=[stop])
    results = tuner.results()
    assert [r.trial_id for r in results] == ["0", "1", "2"]
    for r in results:
        assert r.status == "COMPLETED"
        assert sum(r.weights.values()) == pytest.approx(2.0)  # normalized to mean 1
        assert r.hyperparameters["units"] in (8, 16)
        for key in ("val_a_accuracy", "val_a_auc", "val_a_loss", "val_b_mae", "val_b_rmse"):
            assert np.isfinite(r.metrics[key])
        # Δm recomputed by hand from the trial's own metrics.
        expected = 100 * ((r.metrics["val_a_accuracy"] - 0.5) / 0.5
                          - (r.metrics["val_b_mae"] - 1.0) / 1.0) / 2
        assert r.score == pytest.approx(expected, rel=1e-5)
    best = tuner.best_trial()
    assert best.score == max(r.score for r in results)
    assert tuner.best_weights() == best.weights
    front = tuner.pareto_front()
    assert front and all(r.on_pareto_front for r in front)
    assert sorted(tuner.front_directions()) == ["val_a_accuracy", "val_b_mae"]

    text = tuner.summary(print_fn=None)
    assert "w_a" in text and "val_delta_m" in text and f"best trial {best.trial_id}" in text
    png = tuner.plot(str(tmp_path / "trials.png"))
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    report = json.loads(tuner.to_json(str(tmp_path / "r.json")))
    assert report["best"]["trial_id"] == best.trial_id and len(report["trials"]) == 3

    model = tuner.best_model()
    assert isinstance(model, mtl.MultiTaskModel)
    assert model.weighting.task_weights == pytest.approx([best.weights["a"], best.weights["b"]])


@pytest.mark.parametrize("tuner_name,space,kwargs", [
    ("bayesian", {}, {"max_trials": 2, "num_initial_points": 1}),
    ("grid", {"step": 4.0, "min_weight": 0.25, "max_weight": 4.0}, {"max_trials": 2}),
    ("hyperband", {}, {"max_epochs": 2, "factor": 3}),  # one bracket of 2 trials
])
def test_other_tuners_and_a_soft_sharing_trunk(tmp_path, tuner_name, space, kwargs):
    x, y = _data()
    hypermodel = LossWeightHyperModel(_soft, _tasks(), objective="b_mae", seed=0, **space)
    tuner = LossWeightTuner(hypermodel, tuner=tuner_name, directory=str(tmp_path), **kwargs)
    assert isinstance(tuner.tuner, get_tuner_class(tuner_name))
    tuner.search(x, y, validation_data=_data(24, 1), epochs=1, batch_size=16, verbose=0)
    done = [r for r in tuner.results() if r.status == "COMPLETED"]
    assert len(done) >= 2
    assert tuner.objective.direction == "min"
    assert tuner.best_trial().score == min(r.score for r in done)
    if tuner_name == "grid":
        # The grid is {0.25, 1, 4} per task, normalized to sum 2.
        allowed = {0.25, 1.0, 4.0}
        for r in done:
            raw = tuner.tuner.oracle.trials[r.trial_id].hyperparameters.values
            assert {raw["loss_weight/a"], raw["loss_weight/b"]} <= allowed


def test_weighted_objective_fixed_weight_and_a_custom_tuner_class(tmp_path):
    class MyTuner(keras_tuner.RandomSearch):
        pass

    x, y = _data()
    tasks = _tasks() + [mtl.Task("c", "regression")]
    y["c"] = x[:, 2]

    def build(hp, weights):
        return mtl.build_hard_sharing(keras.Input((3,)), mtl.backbones.mlp([8]), tasks)

    hypermodel = LossWeightHyperModel(build, tasks, objective={"a_accuracy": 1.0, "b_mae": 0.5},
                                      fixed={"c": 0.3}, seed=0)
    tuner = LossWeightTuner(hypermodel, tuner=MyTuner, max_trials=1, directory=str(tmp_path))
    assert isinstance(tuner.tuner, MyTuner)
    tuner.search(x, y, validation_data=(x, y), epochs=1, verbose=0)
    for r in tuner.results():
        assert r.weights["c"] == 0.3
        assert r.weights["a"] + r.weights["b"] == pytest.approx(2.0)
        assert r.score == pytest.approx(r.metrics["val_a_accuracy"] - 0.5 * r.metrics["val_b_mae"],
                                        rel=1e-5)
    assert "loss_weight/c" not in tuner.tuner.oracle.get_space().values


def test_bad_input_raises_before_the_first_trial(tmp_path):
    cases = [  # (hypermodel arguments, tuner arguments, error)
        (dict(objective="a_mae"), {}, "Expected an objective metric"),
        (dict(objective="val_loss"), {}, "does not depend on the loss weights"),
        (dict(objective="delta_m", baselines={"a": 0.5}), {}, r"missing tasks: \['b'\]"),
        (dict(objective="delta_m"), {}, "Expected baselines"),
        (dict(fixed={"a": 1.0, "b": 2.0}), {}, "at least one task whose weight is searched"),
        ({}, dict(tuner="grid"), "grid step"),
        ({}, dict(tuner="hyperband", max_trials=3, max_epochs=2), "max_trials=None"),
        ({}, dict(tuner="hyperband"), "max_epochs"),
        ({}, dict(tuner="annealing"), "Expected tuner"),
    ]
    for i, (space, kwargs, match) in enumerate(cases):
        with pytest.raises(ValueError, match=match):
            LossWeightTuner(LossWeightHyperModel(_hard, _tasks(), **space),
                            directory=str(tmp_path), project_name=str(i), **kwargs)
    tuner = LossWeightTuner(LossWeightHyperModel(_hard, _tasks(), objective="a"),
                            directory=str(tmp_path), project_name="noval", max_trials=1)
    x, y = _data()
    with pytest.raises(ValueError, match="validation_data"):
        tuner.search(x, y, epochs=1, verbose=0)
    assert tuner.results() == []
    assert not any(n.startswith("trial_") for n in os.listdir(tmp_path / "noval"))


def test_the_tuner_takes_a_hypermodel_and_says_so_to_old_calls(tmp_path):
    # The arguments LossWeightTuner took before it took the hypermodel.
    with pytest.raises(TypeError, match=r"Expected hypermodel to be a `mtl_keras.tuning."
                                        r"LossWeightHyperModel`.*LossWeightTuner\("
                                        r"LossWeightHyperModel\(build_fn, tasks, objective="):
        LossWeightTuner(_hard, _tasks(), objective="a", directory=str(tmp_path))
    hypermodel = LossWeightHyperModel(_hard, _tasks(), objective="a", seed=3)
    with pytest.raises(TypeError, match=r"Expected \['objective', 'baselines'\] as arguments of "
                                        r"LossWeightHyperModel.*Received: objective=..., "
                                        r"baselines=..."):
        LossWeightTuner(hypermodel, objective="a", baselines={"a": 1.0}, directory=str(tmp_path))
    with pytest.raises(ValueError, match="Expected max_trials to be an int >= 1"):
        LossWeightTuner(hypermodel, max_trials=0, directory=str(tmp_path))
    # The oracle's seed is the hypermodel's unless given.
    tuner = LossWeightTuner(hypermodel, directory=str(tmp_path), project_name="a")
    assert tuner.tuner.oracle.seed == 3 and tuner.hypermodel is hypermodel
    tuner = LossWeightTuner(hypermodel, seed=5, directory=str(tmp_path), project_name="b")
    assert tuner.tuner.oracle.seed == 5
