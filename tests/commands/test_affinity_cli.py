"""`mtl-keras affinity`: the matrix, the groups, the outputs, and the grouped config trained."""

import itertools
import json

import keras
import numpy as np
import pytest
import yaml

import mtl_keras as mtl
from mtl_keras import cli
from mtl_keras.commands import _common
from mtl_keras.commands import affinity as affinity_command
from mtl_keras.commands._common import RunConfig


def _refuse_to_train(monkeypatch):
    """Makes any attempt to load the data fail the test."""
    def load_data(*args, **kwargs):
        raise AssertionError("the data was loaded: the check came too late")

    monkeypatch.setattr(_common, "load_data", load_data)


def _refuse_to_measure(monkeypatch):
    """Makes the affinity run fail the test (checks that need the data come before it)."""
    def measure_affinity(*args, **kwargs):
        raise AssertionError("the affinity run started: the check came too late")

    monkeypatch.setattr(mtl.affinity, "measure_affinity", measure_affinity)


def _error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def _best_two_groups(matrix, names):
    """The best partition into two groups, by enumerating them (the objective by hand)."""
    def score(groups):
        total = 0.0
        for group in groups:
            for j in group:
                mates = [i for i in group if i != j]
                total += np.mean([matrix[i][j] for i in mates]) if mates else 0.0
        return total

    n = len(names)
    best = None
    for labels in itertools.product([0, 1], repeat=n - 1):
        labels = (0,) + labels  # the first task in group 0: each partition once
        groups = [[i for i in range(n) if labels[i] == g] for g in (0, 1)]
        if groups[1] and (best is None or score(groups) > score(best)):
            best = groups
    return sorted([[names[i] for i in g] for g in best])


def test_affinity_writes_outputs_and_the_grouped_config_trains(tmp_path, capsys):
    out = tmp_path / "affinity"
    config = tmp_path / "run.yaml"
    config.write_text("data: penguins\nbackbone: {type: mlp, units: [6], activation: tanh}\n"
                      "epochs: 7\nseed: 1\n")
    code = cli.main(["affinity", "--config", str(config), "--epochs", "1", "--every", "3",
                     "--groups", "2", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    names = ["species", "sex", "body_mass"]
    assert "step on \\ loss of" in printed and "Best grouping into 2 groups:" in printed

    report = json.loads((out / "affinity.json").read_text())
    assert report["task_names"] == names
    # 239 training rows in batches of 32: 8 steps, of which steps 0, 3 and 6 are measured.
    assert report["counts"] == [[3] * 3] * 3
    expected = _best_two_groups(report["matrix"], names)
    assert sorted(report["chosen"]["groups"]) == expected
    assert (out / "affinity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    grouped = yaml.safe_load((out / "grouped.yaml").read_text())
    assert grouped["architecture"] == "grouped"
    assert sorted(grouped["groups"]) == expected
    # The rest of the config is kept; tasks listed; the run goes under --out.
    assert grouped["tasks"] == names and grouped["epochs"] == 7 and grouped["seed"] == 1
    assert grouped["backbone"] == {"type": "mlp", "units": [6], "activation": "tanh"}
    assert grouped["out"] == str(out / "grouped")

    assert cli.main(["train", "--config", str(out / "grouped.yaml"), "--epochs", "1"]) == 0
    model = keras.saving.load_model(out / "grouped" / "model.keras", safe_mode=True)
    layers = {layer.name for layer in model.trunk.layers}
    assert {"group_0", "group_1"} <= layers and "group_2" not in layers
    x = {k: v[:5] for k, v in _common.load_data("penguins", 1).test.features.items()}
    reps = model.trunk(x)
    for group in grouped["groups"]:  # tasks of a group read the same representation
        for task in group[1:]:
            np.testing.assert_array_equal(reps[task], reps[group[0]])
    apart = [g[0] for g in grouped["groups"]]
    assert not np.allclose(reps[apart[0]], reps[apart[1]])


@pytest.mark.parametrize("argv, message", [
    (["--groups", "0"], "argument --groups: expected an integer >= 1. Received: '0'"),
    (["--every", "0"], "argument --every: expected an integer >= 1. Received: '0'"),
    (["--epochs", "-1"], "argument --epochs: expected an integer >= 1. Received: '-1'"),
    (["--lookahead-lr", "0"], "argument --lookahead-lr: expected a number > 0. Received: '0'"),
    (["--architecture", "soft_sharing"], "argument --architecture: invalid choice"),
])
def test_bad_flags_are_refused_while_parsing(monkeypatch, capsys, argv, message):
    _refuse_to_train(monkeypatch)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["affinity", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("config_text, argv, message", [
    ("architecture: soft_sharing\n", [],
     "Expected an architecture whose tasks share trunk variables (hard_sharing, cross_stitch, "
     "mmoe, ple, grouped) for the affinity run. Received: architecture='soft_sharing'"),
    ("tasks: [species]\n", [],
     "Expected at least two tasks to measure their affinity. Received: tasks=['species']"),
    ("", ["--tasks", "species"], "Received: tasks=['species']"),
    ("epochs: 0\n", [], "epochs"),
])
def test_bad_config_fails_before_the_data_is_read(tmp_path, monkeypatch, capsys, config_text,
                                                  argv, message):
    _refuse_to_train(monkeypatch)
    config = tmp_path / "run.yaml"
    config.write_text(config_text + "data: penguins\n")
    code = cli.main(["affinity", "--config", str(config), "--out", str(tmp_path / "o"), *argv])
    assert code == 2
    line = _error_line(capsys)
    assert line.startswith("mtl-keras affinity: error: ") and message in line


def test_existing_outputs_are_refused_before_the_data_is_read(tmp_path, monkeypatch, capsys):
    _refuse_to_train(monkeypatch)
    (tmp_path / "grouped.yaml").write_text("kept\n")
    assert cli.main(["affinity", "--out", str(tmp_path)]) == 2
    line = _error_line(capsys)
    assert f"{str(tmp_path / 'grouped.yaml')!r} already exists" in line
    assert (tmp_path / "grouped.yaml").read_text() == "kept\n"
    (tmp_path / "file").write_text("")
    assert cli.main(["affinity", "--out", str(tmp_path / "file")]) == 2
    assert "is an existing file" in _error_line(capsys)


def test_too_many_groups_fail_before_the_affinity_run(tmp_path, monkeypatch, capsys):
    _refuse_to_measure(monkeypatch)
    code = cli.main(["affinity", "--tasks", "species,body_mass", "--groups", "3",
                     "--out", str(tmp_path)])
    assert code == 2
    assert ("Expected --groups between 1 and the number of tasks (2: species, body_mass). "
            "Received: --groups=3") in _error_line(capsys)
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------ RunConfig: grouped
def test_run_config_accepts_a_partition_of_the_tasks():
    config = RunConfig.from_dict({"architecture": "grouped", "tasks": ["species", "sex"],
                                  "groups": [["sex"], ["species"]]})
    assert config.groups == [["sex"], ["species"]]
    # Without a task list the partition is checked against the data's tasks when built.
    assert RunConfig.from_dict({"architecture": "grouped", "groups": [["a"]]}).groups == [["a"]]


@pytest.mark.parametrize("raw, message", [
    ({"architecture": "grouped"},
     "Expected groups (architecture grouped) to be a list of non-empty lists of task names, "
     "such as [[species, sex], [body_mass]]. Received: groups=None"),
    ({"architecture": "grouped", "groups": [["species"], []]},
     "Received: groups=[['species'], []]"),
    ({"architecture": "grouped", "groups": "species"}, "Received: groups='species'"),
    ({"groups": [["species"]]},
     "Expected groups only with architecture grouped. Received: groups=[['species']] with "
     "architecture='hard_sharing'"),
    ({"architecture": "grouped", "tasks": ["species", "sex"], "groups": [["species"]]},
     "Expected every task in exactly one group"),
    ({"architecture": "grouped", "tasks": ["species", "sex"],
      "groups": [["species", "sex"], ["mass"]]}, "Received unknown task names ['mass']"),
    ({"architecture": "grouped", "backbone": {"units": [4], "gates": 2}, "groups": [["a"]]},
     "Expected backbone keys among"),
])
def test_run_config_refuses_bad_groups(raw, message):
    with pytest.raises(ValueError) as error:
        RunConfig.from_dict(raw)
    assert message in str(error.value)


def test_groups_that_miss_a_dataset_task_fail_before_training(tmp_path, monkeypatch, capsys):
    def fit(*args, **kwargs):
        raise AssertionError("training started: the check came too late")

    monkeypatch.setattr(keras.Model, "fit", fit)
    config = tmp_path / "grouped.yaml"
    config.write_text("architecture: grouped\ngroups: [[species, sex]]\n")
    assert cli.main(["train", "--config", str(config), "--out", str(tmp_path / "o")]) == 2
    assert "in no group: ['body_mass']" in _error_line(capsys)


def test_grouped_config_makes_data_spec_paths_absolute(tmp_path):
    spec = {"train": "tables/train.csv", "test": {"paths": ["tables/t1.csv", "/abs/t2.csv"]},
            "targets": {"y": "regression", "z": "binary"}}
    config = RunConfig.from_dict({"data": spec, "epochs": 4}, base_dir=str(tmp_path))
    fields = affinity_command.grouped_fields(config, ["y", "z"], "runs/affinity")
    assert fields["data"]["train"] == str(tmp_path / "tables" / "train.csv")
    assert fields["data"]["test"] == {"paths": [str(tmp_path / "tables" / "t1.csv"),
                                                "/abs/t2.csv"]}
    assert fields["data"]["targets"] == spec["targets"]
    assert fields["tasks"] == ["y", "z"] and fields["epochs"] == 4
    assert fields["out"] == "runs/affinity/grouped"
    assert "architecture" not in fields and "groups" not in fields
    # The config the verb writes is one train accepts, wherever it is read from.
    grouped = {**fields, "architecture": "grouped", "groups": [["y"], ["z"]]}
    assert RunConfig.from_dict(grouped, base_dir="/elsewhere").groups == [["y"], ["z"]]
