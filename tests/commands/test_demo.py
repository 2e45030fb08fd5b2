"""`mtl-keras demo`: it trains, reports and saves; its output paths; its search progress."""

import numpy as np
import pytest

import keras
from mtl_keras import cli
from mtl_keras.commands import demo as demo_command


def test_demo_trains_reports_and_saves(tmp_path, capsys, monkeypatch):
    results, demo = [], demo_command.demo

    def recording_demo(**kwargs):  # The verb's demo(), keeping its result for the checks.
        results.append(demo(**kwargs, verbose=0))
        return results[-1]

    monkeypatch.setattr(demo_command, "demo", recording_demo)
    assert cli.main(["demo", "--out", str(tmp_path / "run"), "--epochs", "2", "--no-tune",
                     "--no-export"]) == 0
    (result,) = results
    printed = capsys.readouterr().out
    assert "single-task" in printed and "multi-task" in printed
    for task in ("species", "sex", "body_mass"):
        assert task in result["single_task"]
    assert "tuning" not in result and "exports" not in result
    model = keras.saving.load_model(result["path"], safe_mode=True)
    x = result["data"].test.features
    np.testing.assert_allclose(model.predict(x, verbose=0)["species"],
                               result["model"].predict(x, verbose=0)["species"], rtol=1e-6)
    history = result["model"].history.history
    assert len(history["loss"]) == 2 and history["loss"][-1] < history["loss"][0]


def test_demo_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "model.keras").write_bytes(b"user data")
    assert cli.main(["demo", "--out", str(out), "--quick"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (out / "model.keras").read_bytes() == b"user data"
    (out / "model.keras").unlink()
    (out / "tune").mkdir()
    assert cli.main(["demo", "--out", str(out), "--quick", "--no-export"]) == 2
    assert f"Expected a new location for the search. Received: {str(out / 'tune')!r}" in (
        capsys.readouterr().err)


def test_demo_output_path_is_checked_first(tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("user data")
    assert cli.main(["demo", "--out", str(a_file), "--quick"]) == 2
    captured = capsys.readouterr()
    assert "Expected --out to be a directory" in captured.err and captured.out == ""
    assert a_file.read_text() == "user data"


@pytest.mark.slow
def test_demo_cli_tiny_run_with_search_progress(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["demo", "--out", str(out), "--epochs", "1", "--trials", "1",
                     "--no-export"]) == 0
    printed = capsys.readouterr().out
    assert "Loss-weight search: 1 trials x 2 epochs" in printed
    assert "\ntrial 1/1: weights species=" in printed and "\ntrial 1/1 done in " in printed
    assert "Δm of tuned over equal weights on test" in printed
    assert (out / "model.keras").is_file() and (out / "tune").is_dir()
    assert not (out / "export").exists()


@pytest.mark.slow
def test_demo_cli_quick_tunes_and_exports(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["demo", "--out", str(out), "--quick"]) == 0
    printed = capsys.readouterr().out
    assert "Loss-weight search" in printed and "tuned" in printed and "equal" in printed
    assert "penguins_int8.tflite" in printed and "serving/penguins/1" in printed
    assert (out / "model.keras").is_file()
    assert (out / "export" / "serving" / "penguins" / "1" / "saved_model.pb").is_file()
    assert (out / "export" / "tflite" / "penguins_float32.tflite").is_file()
    # Every float artifact agreed with the Keras model (the export fails otherwise).
    float_rows = [l for l in printed.splitlines() if " float32 " in l]
    assert float_rows and all(" yes " in l for l in float_rows)
