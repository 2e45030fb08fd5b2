"""`TrialProgress`: the lines a search prints per trial, on a stub oracle and a fixed clock."""

import types

import keras_tuner
import pytest

from mtl_keras.tuning import progress as progress_lib
from mtl_keras.tuning.progress import TrialProgress, format_duration


def test_format_duration():
    assert format_duration(0.4) == "0s"
    assert format_duration(42.6) == "43s"
    assert format_duration(185) == "3m05s"
    assert format_duration(3720) == "1h02m"


class _Oracle:
    def __init__(self, max_trials):
        self.max_trials = max_trials
        self.trials = {}

    def get_best_trials(self, num_trials=1):
        done = [t for t in self.trials.values() if t.status == "COMPLETED"]
        return sorted(done, key=lambda t: -t.score)[:num_trials]


def _trial(trial_id, weight_a):
    hp = keras_tuner.HyperParameters()
    hp.values["loss_weight/a"] = weight_a
    return types.SimpleNamespace(trial_id=trial_id, hyperparameters=hp, status="RUNNING",
                                 score=None, message=None)


def _stub_tuner(max_trials):
    oracle = _Oracle(max_trials)

    def weights_from_values(values):
        return {"a": values["loss_weight/a"], "b": 2.0 - values["loss_weight/a"]}

    return types.SimpleNamespace(
        tuner=types.SimpleNamespace(oracle=oracle),
        hypermodel=types.SimpleNamespace(weights_from_values=weights_from_values),
        objective=types.SimpleNamespace(name="val_delta_m")), oracle


@pytest.mark.parametrize("max_trials", [3, None])
def test_trial_lines(monkeypatch, max_trials):
    clock = iter([0.0, 10.0, 10.0, 40.0, 40.0, 60.0])
    monkeypatch.setattr(progress_lib.time, "perf_counter", lambda: next(clock))
    tuner, oracle = _stub_tuner(max_trials)
    lines = []
    reporter = TrialProgress(tuner, lines.append)
    for trial_id, weight, status, score in (("00", 0.5, "COMPLETED", 1.5),
                                            ("01", 1.25, "FAILED", None),
                                            ("02", 1.0, "COMPLETED", 2.25)):
        trial = _trial(trial_id, weight)
        oracle.trials[trial_id] = trial
        reporter.on_trial_begin(trial)
        trial.status, trial.score = status, score
        reporter.on_trial_end(trial)
    n = "/3" if max_trials else ""
    # Time left: the mean duration of the trials run so far times the trials still to run
    # (10s x 2, then (10 + 30) / 2 x 1); none without a fixed number of trials.
    left = ["; about 20s left", "; about 20s left", ""] if max_trials else ["", "", ""]
    assert lines == [
        f"trial 1{n}: weights a=0.500, b=1.500",
        f"trial 1{n} done in 10s: val_delta_m=1.5000; best so far 1.5000 (trial 00){left[0]}",
        f"trial 2{n}: weights a=1.250, b=0.750",
        f"trial 2{n} done in 30s: failed; best so far 1.5000 (trial 00){left[1]}",
        f"trial 3{n}: weights a=1.000, b=1.000",
        f"trial 3{n} done in 20s: val_delta_m=2.2500; best so far 2.2500 (trial 02){left[2]}",
    ]
