"""`mtl-keras train` (and `evaluate` on its output): every architecture, configs, paths."""

import json
import os

import keras
import pytest

from mtl_keras import cli
from mtl_keras.commands import _common
from mtl_keras.commands._common import RunConfig
from mtl_keras.model import MultiTaskModel


def _refuse_to_train(monkeypatch):
    """Makes any attempt to load the training data fail the test."""
    def load_data(*args, **kwargs):
        raise AssertionError("the data was loaded: the check came too late")

    monkeypatch.setattr(_common, "load_data", load_data)


def _error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


@pytest.mark.parametrize(
    "architecture, layer",
    [("hard_sharing", "mlp"), ("soft_sharing", "towers"), ("cross_stitch", "cross_stitch_1"),
     ("mmoe", "mmoe"), ("ple", "ple_level_1")])
def test_every_architecture_trains_through_the_cli(tmp_path, capsys, architecture, layer):
    out = tmp_path / architecture
    code = cli.main(["train", "--architecture", architecture, "--units", "4,3", "--epochs", "1",
                     "--tasks", "species,body_mass", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert f"Training {architecture} on penguins (species, body_mass)" in printed
    model = keras.saving.load_model(out / "model.keras", safe_mode=True)
    assert isinstance(model, MultiTaskModel) and model.task_names == ["species", "body_mass"]
    trunk_layers = {l.name for l in model.trunk.layers}
    assert layer in trunk_layers, sorted(trunk_layers)


def test_train_from_yaml_then_evaluate(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    out = tmp_path / "out"
    config.write_text(
        "data: penguins\n"
        "tasks: [species, body_mass]\n"
        "backbone: {type: mlp, units: [16], activation: tanh}\n"
        "weighting: {species: 2.0}\n"
        "epochs: 2\n"
        f"out: {out}\n")
    # --units overrides the widths only: the activation from the file stays.
    assert cli.main(["train", "--config", str(config), "--epochs", "3", "--units", "8"]) == 0
    assert (out / "model.keras").is_file()
    printed = capsys.readouterr().out
    assert "species_accuracy" in printed and "sex_" not in printed
    model = keras.saving.load_model(out / "model.keras")
    mlp = model.trunk.get_layer("mlp")
    assert mlp.units == (8,) and mlp.activation == "tanh"
    assert cli.main(["evaluate", str(out / "model.keras"), "--split", "validation"]) == 0
    printed = capsys.readouterr().out
    assert "body_mass" in printed and "mae" in printed


@pytest.mark.parametrize("text, message", [
    ("tasks: [species\n", "Expected a valid YAML config in"),
    ("epochs: !!python/object/apply:os.system ['true']\n",
     "the tag !!python/object/apply:os.system (Python tags are not accepted"),
    ("tasks: species\n", "Expected tasks to be a non-empty list of task names, such as "
                         "[species, sex]. Received: tasks='species'"),
    ("tasks: 5\n", "Received: tasks=5"),
    ("tasks: [species, species]\n", "Expected distinct task names"),
    ("epochz: 3\n", "Unknown config keys ['epochz'] (did you mean ['epochs']?)"),
    ("learning_rate: 1e-3\n", "learning_rate='1e-3' (text, not a number: write 0.001"),
    ("backbone: {units: [8, zero]}\n", "Expected backbone.units to be a non-empty list"),
    ("architecture: mmoe\nbackbone: {units: [8], dropout: 0.1}\n",
     "Expected backbone keys among ['type', 'units', 'activation'] for architecture 'mmoe'. "
     "Received: ['dropout']"),
    ("weighting: [1, 2]\n", "Expected weighting to be a method name"),
    ("seed: -1\n", "Expected seed to be an int >= 0"),
    ("- epochs\n", "Expected a mapping of config fields"),
    ("", "Received: an empty file"),
])
def test_config_errors_are_one_readable_line(tmp_path, capsys, monkeypatch, text, message):
    _refuse_to_train(monkeypatch)
    config = tmp_path / "run.yaml"
    config.write_text(text)
    assert cli.main(["train", "--config", str(config), "--out", str(tmp_path / "o")]) == 2
    line = _error_line(capsys)
    assert line.startswith("mtl-keras train: error: ") and message in line, line
    assert not (tmp_path / "o").exists()


def test_config_file_errors(tmp_path, capsys, monkeypatch):
    _refuse_to_train(monkeypatch)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"epochs": 1,}')
    cases = [
        ([str(bad_json)], "Expected valid JSON in"),
        ([str(tmp_path)], "is a directory"),
        ([str(tmp_path / "missing.yaml")], "does not exist"),
    ]
    for argv, message in cases:
        assert cli.main(["train", "--config"] + argv) == 2
        line = _error_line(capsys)
        assert message in line, line
    assert cli.main(["train", "--config", str(bad_json)]) == 2
    assert "line 1, column 14" in _error_line(capsys)


def test_config_validation_in_python():
    with pytest.raises(ValueError, match=r"Unknown config keys \['epochz'\]"):
        RunConfig.from_dict({"epochz": 3})
    with pytest.raises(ValueError, match="Expected epochs to be an int >= 1"):
        RunConfig.from_dict({"epochs": 0})
    with pytest.raises(ValueError, match="Expected epochs to be an int >= 1"):
        RunConfig.from_dict({"epochs": True})
    with pytest.raises(ValueError, match="Expected data to be one of"):
        RunConfig.from_dict({"data": "mnist"})
    with pytest.raises(ValueError, match="Expected architecture in"):
        RunConfig.from_dict({"architecture": "mixture"})
    assert RunConfig.from_dict({"architecture": "ple", "backbone": {"units": [8]}}).epochs == 60


def test_unknown_tasks_fail_before_training(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"tasks": ["nope"], "epochs": 1, "out": str(tmp_path / "o")}))
    assert cli.main(["train", "--config", str(bad)]) == 2
    assert "Unknown tasks ['nope']" in _error_line(capsys)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv, message", [
    (["--units", "64,abc"], "argument --units: expected comma-separated integers >= 1"),
    (["--units", "64,0"], "argument --units"),
    (["--epochs", "0"], "argument --epochs: expected an integer >= 1. Received: '0'"),
    (["--learning-rate", "-1"], "argument --learning-rate: expected a number > 0"),
    (["--weighting", "species=x"], "argument --weighting: expected comma-separated name=number"),
    (["--tasks", "species,,sex"], "argument --tasks"),
    (["--architecture", "mixture"], "argument --architecture: invalid choice: 'mixture'"),
])
def test_bad_flags_name_the_flag(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train"] + argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_output_paths_are_checked_before_training(tmp_path, capsys, monkeypatch):
    _refuse_to_train(monkeypatch)
    a_file = tmp_path / "a_file"
    a_file.write_text("user data")
    existing = tmp_path / "run"
    existing.mkdir()
    (existing / "model.keras").write_bytes(b"an earlier model")
    cases = [
        (str(a_file), f"Expected --out to be a directory. Received: --out={str(a_file)!r} is "
                      "an existing file."),
        (str(a_file / "sub"), f"but {str(a_file)!r} is a file"),
        (str(existing), "already exists (choose another --out; nothing was overwritten)"),
    ]
    for out, message in cases:
        assert cli.main(["train", "--epochs", "1", "--out", out]) == 2
        line = _error_line(capsys)
        assert message in line, line
    assert a_file.read_text() == "user data"
    assert (existing / "model.keras").read_bytes() == b"an earlier model"

    # An unwritable parent (os.access stands in for permissions: the tests may run as root).
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert cli.main(["train", "--epochs", "1", "--out", str(tmp_path / "new")]) == 2
    assert f"but {str(tmp_path)!r} is not writable" in _error_line(capsys)


def test_evaluate_refuses_bad_model_files(tmp_path, capsys):
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    plain = tmp_path / "plain.keras"
    keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save(plain)
    cases = [
        (truncated, "is not a valid .keras archive (204 bytes; truncated or corrupt?)"),
        (tmp_path, "is a directory"),
        (tmp_path / "missing.keras", "does not exist"),
        (plain, "Expected an mtl_keras MultiTaskModel in"),
    ]
    for path, message in cases:
        assert cli.main(["evaluate", str(path)]) == 2
        line = _error_line(capsys)
        assert line.startswith("mtl-keras evaluate: error: Expected") and message in line, line
