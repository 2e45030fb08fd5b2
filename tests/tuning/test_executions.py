"""Trials averaged over executions: execution i of every trial is seeded `seed + i`.

Before, every build was seeded with the same `seed`, so KerasTuner's
`executions_per_trial` repeated the same initialization and only the data order
differed: averaging did not average over seeds.
"""

import keras
import numpy as np
import pytest

import mtl_keras as mtl
from mtl_keras.tuning import LossWeightHyperModel, LossWeightTuner


def _tasks():
    return [mtl.Task("a", "binary"), mtl.Task("b", "regression")]


def _data(n=32):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, {"a": (x[:, 0] > 0).astype("float32"), "b": x[:, 1]}


def _recording_build(draws):
    def build(hp, weights):
        # What the build's seed decides: a draw from NumPy's global generator
        # (seeded by keras.utils.set_random_seed) and the first kernel.
        model = mtl.build_hard_sharing(keras.Input((3,)), mtl.backbones.mlp([4]), _tasks())
        draws.append((float(np.random.random()), model.trunk.trainable_variables[0].numpy()))
        return model
    return build


def test_execution_seeds_follow_the_hypermodel_seed():
    hm = LossWeightHyperModel(lambda hp, w: None, _tasks(), objective="b_mae", seed=7)
    assert [hm.execution_seed(i) for i in range(3)] == [7, 8, 9]
    assert LossWeightHyperModel(lambda hp, w: None, _tasks(),
                                objective="b_mae").execution_seed(2) is None
    with pytest.raises(ValueError, match="execution"):
        hm.execution_seed(-1)


@pytest.mark.parametrize("executions", [1, 3])
def test_each_execution_of_a_trial_gets_its_own_seed_and_trials_share_them(tmp_path,
                                                                           executions):
    draws = []
    hm = LossWeightHyperModel(_recording_build(draws), _tasks(), objective="b_mae", seed=3)
    x, y = _data()
    tuner = LossWeightTuner(hm, max_trials=2, directory=str(tmp_path),
                            executions_per_trial=executions, overwrite=True)
    tuner.search(x, y, validation_data=(x, y), epochs=1, batch_size=16, verbose=0)
    # KerasTuner builds once before the first trial to declare the search
    # space (not trained); then one build per execution of each trial.
    assert len(draws) == 1 + 2 * executions
    draws = draws[1:]
    expected = []
    for seed in range(3, 3 + executions):
        keras.utils.set_random_seed(seed)
        expected.append(float(np.random.random()))
    # Trial 1's executions, then trial 2's: the same seeds in the same order.
    assert [d for d, _ in draws] == expected * 2
    for i in range(executions):
        np.testing.assert_array_equal(draws[i][1], draws[executions + i][1])
    if executions > 1:
        assert not np.array_equal(draws[0][1], draws[1][1])
    assert hm.execution == 0  # reset after the search
    assert len(tuner.results()) == 2


def test_the_tune_verb_passes_executions_per_trial_and_checks_noise_on_later_seeds(
        monkeypatch):
    from mtl_keras.commands import _weight_search

    class FakeData:
        tasks = _tasks()

    search = _weight_search.WeightSearch.__new__(_weight_search.WeightSearch)
    search.seed, search.executions_per_trial = 5, 3
    search.equal_weights = {"a": 1.0, "b": 1.0}
    seeds = []

    def train_eval(weights, seed=None):
        seeds.append(seed)
        return {"b_mae": 1.0 + 0.1 * len(seeds)}, {}

    monkeypatch.setattr(search, "train_eval", train_eval, raising=False)
    objective = mtl.tuning.objectives.get("b_mae").validate(FakeData.tasks)
    search.check_noise({"a": 1.0, "b": 2.0}, objective, executions=2)
    # The search used seeds 5, 6, 7: the check trains on 8 and 9, paired.
    assert seeds == [8, 8, 9, 9]


def test_executions_per_trial_is_validated():
    from mtl_keras.commands import _weight_search

    with pytest.raises(ValueError, match="executions_per_trial"):
        _weight_search.WeightSearch(None, epochs=1, executions_per_trial=0)
