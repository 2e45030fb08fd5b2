import json

import pytest

from mtl_keras import cli
from mtl_keras.commands._common import RunConfig


def test_train_from_yaml_then_evaluate(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    out = tmp_path / "out"
    config.write_text(
        "data: penguins\n"
        "tasks: [species, body_mass]\n"
        "backbone: {type: mlp, units: [16]}\n"
        "weighting: {species: 2.0}\n"
        "epochs: 2\n"
        f"out: {out}\n")
    assert cli.main(["train", "--config", str(config), "--epochs", "3"]) == 0
    assert (out / "model.keras").is_file()
    printed = capsys.readouterr().out
    assert "species_accuracy" in printed and "sex_" not in printed
    assert cli.main(["evaluate", str(out / "model.keras"), "--split", "validation"]) == 0
    printed = capsys.readouterr().out
    assert "body_mass" in printed and "mae" in printed


def test_config_errors(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"Unknown config keys \['epochz'\]"):
        RunConfig.from_dict({"epochz": 3})
    with pytest.raises(ValueError, match="Expected epochs to be an int >= 1"):
        RunConfig.from_dict({"epochs": 0})
    with pytest.raises(ValueError, match="Expected data in"):
        RunConfig.from_dict({"data": "mnist"})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"tasks": ["nope"], "epochs": 1, "out": str(tmp_path / "o")}))
    assert cli.main(["train", "--config", str(bad)]) == 2
    assert "Unknown tasks ['nope']" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    assert cli.main(["train", "--weighting", "species=x", "--epochs", "1"]) == 2
    assert cli.main(["evaluate", str(tmp_path / "missing.keras")]) == 2
