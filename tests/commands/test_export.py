import os

import numpy as np
import pytest

from mtl_keras import cli
from tests.exporters._models import make_model, make_sample


def _saved_model_file(tmp_path):
    model = make_model()
    path = str(tmp_path / "tiny.keras")
    model.save(path)
    return path


def test_export_verb_writes_verified_artifacts(tmp_path, capsys):
    path = _saved_model_file(tmp_path)
    features, labels = make_sample(n=12)
    data = tmp_path / "data.npz"
    np.savez(data, **features, **{f"label/{k}": v for k, v in labels.items()})
    out = tmp_path / "out"
    code = cli.main([
        "export", path, "--out", str(out), "--quantize", "float32,int8",
        "--data", str(data), "--calibration-steps", "12"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "tiny_int8.tflite" in printed and "b_accuracy" in printed
    assert os.listdir(out / "serving" / "tiny") == ["1"]
    assert sorted(os.listdir(out / "tflite")) == ["tiny_float32.tflite", "tiny_int8.tflite"]


def test_export_verb_errors(tmp_path, capsys):
    path = _saved_model_file(tmp_path)
    assert cli.main(["export", str(tmp_path / "missing.keras"), "--out", "x"]) == 2
    assert "Expected a .keras model file" in capsys.readouterr().err
    assert cli.main(["export", path, "--out", str(tmp_path / "o"), "--quantize", "int8"]) == 2
    assert "Expected --data" in capsys.readouterr().err
    assert cli.main(["export", path, "--out", path]) == 2
    assert "is a file" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["tiny.keras"]
