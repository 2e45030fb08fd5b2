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
    assert "is an existing file" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["tiny.keras"]


def _error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def test_export_data_must_match_the_model(tmp_path, capsys):
    path = _saved_model_file(tmp_path)
    features, labels = make_sample(n=4)
    cases = {
        "wrong.npz": ({"measurements": features["x"]},
                      "Expected --data arrays keyed by the model's input names ['x', 'z'] "
                      "(and optional labels keyed label/<task>). Received: "),
        "labels.npz": ({**features, "label/d": labels["a"]},
                       "Expected labels for the model's tasks ['a', 'b', 'c']. Received: "),
        "rows.npz": ({"x": features["x"], "z": features["z"][:3]}, "with rows {'x': 4, 'z': 3}"),
        "shape.npz": ({"x": features["x"][:, :3], "z": features["z"]},
                      "Expected the array 'x' in --data to have rows of shape (4,). "
                      "Received: rows of shape (3,)."),
    }
    for name, (arrays, message) in cases.items():
        np.savez(tmp_path / name, **arrays)
        code = cli.main(["export", path, "--out", str(tmp_path / "out"), "--data",
                         str(tmp_path / name)])
        line = _error_line(capsys)
        assert code == 2 and message in line, line
    (tmp_path / "text.npz").write_text("not numpy")
    assert cli.main(["export", path, "--out", str(tmp_path / "out"),
                     "--data", str(tmp_path / "text.npz")]) == 2
    assert "Expected --data to be an .npz file of arrays" in _error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_export_flags_and_paths_are_checked_first(tmp_path, capsys):
    path = _saved_model_file(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["export", path, "--out", str(tmp_path / "o"), "--calibration-steps", "0"])
    assert exit_info.value.code == 2
    assert "argument --calibration-steps: expected an integer >= 1. Received: '0'" in (
        capsys.readouterr().err)
    assert cli.main(["export", path, "--out", os.path.join(path, "sub")]) == 2
    assert f"but {path!r} is a file" in _error_line(capsys)


def test_export_twice_needs_overwrite(tmp_path, capsys):
    path = _saved_model_file(tmp_path)
    out = tmp_path / "out"
    assert cli.main(["export", path, "--out", str(out)]) == 0
    before = os.path.getmtime(out / "tflite" / "tiny_float32.tflite")
    capsys.readouterr()
    assert cli.main(["export", path, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mtl-keras export: error:") and "overwrite" in err
    assert len(err.splitlines()) == 1
    assert os.listdir(out / "serving" / "tiny") == ["1"]  # nothing published
    assert cli.main(["export", path, "--out", str(out), "--overwrite"]) == 0
    assert sorted(os.listdir(out / "serving" / "tiny")) == ["1", "2"]
    assert os.path.getmtime(out / "tflite" / "tiny_float32.tflite") >= before
