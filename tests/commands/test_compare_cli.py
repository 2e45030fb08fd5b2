"""`mtl-keras compare`: a tiny run end to end, and one-line errors before any training."""

import json
import re

import pytest

from mtl_keras import cli
from mtl_keras.commands import compare as compare_command
from mtl_keras.evaluation import ComparisonResult, compare_models

TINY = ("data: penguins\n"
        "tasks: [species, sex]\n"
        "backbone: {type: mlp, units: [4]}\n"
        "epochs: 1\n"
        "batch_size: 128\n")


def _error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert err[0].startswith("mtl-keras compare: error: "), err
    return err[0]


def _no_training(*args, **kwargs):
    raise AssertionError("a fit was trained: the check came too late")


@pytest.mark.slow  # 4 fits: ~12 s on a quiet 2-core machine
def test_compare_cli_end_to_end(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(TINY + "compare: [{architecture: hard, weighting: equal}]\n"
                             "auxiliary: [sex]\nseed: 3\n")
    out = tmp_path / "out"
    assert cli.main(["compare", "--config", str(config), "--seeds", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "compare: 4 fits (0 cached) over 2 seeds" in printed
    assert "fit 4/4 seed 4 hard_sharing_equal:" in printed
    table = (out / "comparison.txt").read_text()
    assert table.strip() in printed
    result = ComparisonResult.load(out / "comparison.json")
    assert result.seeds == [3, 4] and result.tasks == ["species"]
    assert result.auxiliary == ["sex"] and result.models == ["single_task", "hard_sharing_equal"]
    assert result.table() == table.strip()
    assert (out / "comparison.png").read_bytes()[:4] == b"\x89PNG"
    with open(out / "fits" / "seed_4" / "hard_sharing_equal.json") as f:
        record = json.load(f)
    assert record["settings"]["description"]["architecture"] == "hard_sharing"
    assert record["settings"]["tasks"] == ["species", "sex"]
    assert record["selected_on"] == "val_main_task_loss_sum"

    # Run again: everything is cached, nothing trains.
    assert cli.main(["compare", "--config", str(config), "--seeds", "2", "--out", str(out)]) == 0
    assert "compare: 4 fits (4 cached)" in capsys.readouterr().out


@pytest.mark.slow  # 4 fits: ~10 s on a quiet 2-core machine
def test_single_task_and_one_task_configuration_are_the_same_model(tmp_path, capsys,
                                                                  monkeypatch):
    # Without auxiliary tasks, hard sharing over one task *is* the single-task
    # model: same build, same seed, so the same weights (a check of the per-seed
    # determinism), and Δm is exactly 0 on every seed.
    trained = []

    def fit_once(build, data, tasks, **kwargs):
        trained.append(kwargs["seed"])
        return real(build, data, tasks, **kwargs)

    real = compare_models.fit_once
    monkeypatch.setattr(compare_models, "fit_once", fit_once)
    config = tmp_path / "run.yaml"
    config.write_text(TINY.replace("[species, sex]", "[species]")
                      + "compare: [{architecture: hard_sharing, name: same}]\n")
    out = tmp_path / "out"
    assert cli.main(["compare", "--config", str(config), "--seeds", "2", "--out", str(out)]) == 0
    assert trained == [0, 0, 1, 1]
    result = ComparisonResult.load(out / "comparison.json")
    assert result.scores["same"] == result.scores["single_task"]
    assert result.summary["same"]["delta_m_values"] == [0.0, 0.0]
    assert result.verdict("same") == "tie"


@pytest.mark.parametrize("extra, flags, match", [
    ("compare: [{architecture: hard}]\n", ["--seeds", "1"], "seeds .* >= 2"),
    ("compare: [{architecture: hard}]\nseeds: 1\n", [], "seeds .* >= 2"),
    ("", [], "compare: to be a non-empty list"),
    ("compare: []\n", [], "compare: to be a non-empty list"),
    ("compare: [{architecture: hard, epochs: 3}]\n", [], "keys of compare\\[0\\] among"),
    ("compare: [{architecture: hard}, {architecture: mlp}]\n", [],
     "compare\\[1\\]: Expected architecture in"),
    ("compare: [hard]\n", [], "compare\\[0\\] to be a mapping"),
    ("compare: [{architecture: hard}, {architecture: hard_sharing}]\n", [],
     "distinct names .*'hard_sharing_equal', 'hard_sharing_equal'"),
    ("compare: [{architecture: hard}]\nauxiliary: sex\n", [], "auxiliary to be a list"),
    ("compare: [{architecture: hard}]\nauxiliary: [species, sex]\n", [], "at least one main"),
    ("compare: [{architecture: hard}]\nauxiliary: [wingspan]\n", [], "unknown tasks"),
    ("compare: [{architecture: hard}]\nmetrics: {species: mae}\n", [],
     "metric of 'species' among"),
    ("compare: [{architecture: hard}]\ncompares: 3\n", [], "Unknown config keys \\['compares'\\]"),
])
def test_bad_configs_are_one_line_errors_before_training(tmp_path, capsys, monkeypatch, extra,
                                                         flags, match):
    monkeypatch.setattr(compare_models, "fit_once", _no_training)
    config = tmp_path / "run.yaml"
    config.write_text(TINY + extra)
    code = cli.main(["compare", "--config", str(config), "--out", str(tmp_path / "out")]
                    + flags)
    assert code == 2
    assert re.search(match, _error_line(capsys))
    assert not (tmp_path / "out" / "fits" / "seed_0").exists()


def test_unknown_task_in_the_config(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(compare_models, "fit_once", _no_training)
    config = tmp_path / "run.yaml"
    config.write_text(TINY.replace("[species, sex]", "[species, wingspan]")
                      + "compare: [{architecture: mmoe}]\n")
    assert cli.main(["compare", "--config", str(config), "--out", str(tmp_path / "o")]) == 2
    assert "unknown tasks ['wingspan']" in _error_line(capsys)


def test_output_path_that_is_a_file_is_refused_before_loading_data(tmp_path, capsys,
                                                                   monkeypatch):
    def load_data(*args, **kwargs):
        raise AssertionError("the data was loaded: the check came too late")

    monkeypatch.setattr(compare_command._common, "load_data", load_data)
    config = tmp_path / "run.yaml"
    config.write_text(TINY + "compare: [{architecture: mmoe}]\n")
    out = tmp_path / "results"
    out.write_text("a file")
    assert cli.main(["compare", "--config", str(config), "--out", str(out)]) == 2
    assert "is an existing file" in _error_line(capsys)
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "comparison.json").mkdir()
    assert cli.main(["compare", "--config", str(config), "--out", str(tmp_path / "dir")]) == 2
    assert "comparison.json' is a directory" in _error_line(capsys)


def test_missing_config_file(tmp_path, capsys):
    assert cli.main(["compare", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "does not exist" in _error_line(capsys)


@pytest.mark.slow  # 6 fits on a generated table
def test_compare_cli_on_a_users_table(tmp_path, capsys):
    from tests.commands import _table

    # kind (3 classes) and score (regression) are the main tasks, flag is auxiliary.
    config = _table.write_config(tmp_path, compare=[{"architecture": "hard"}],
                                 auxiliary=["flag"])
    out = tmp_path / "cmp"
    assert cli.main(["compare", "--config", config, "--seeds", "2", "--out", str(out)]) == 0
    assert "compare: 6 fits (0 cached) over 2 seeds" in capsys.readouterr().out
    result = ComparisonResult.load(out / "comparison.json")
    assert result.tasks == ["kind", "score"] and result.auxiliary == ["flag"]
    assert result.metrics == {"kind": "accuracy", "score": "mae"}
    with open(out / "fits" / "seed_1" / "hard_sharing_equal.json") as f:
        record = json.load(f)
    assert record["settings"]["tasks"] == ["kind", "score", "flag"]
    assert record["test"]["score_mae"] == result.scores["hard_sharing_equal"]["score"][1]
