"""The `mtl-keras demo` main job, quick mode: it trains, reports and saves."""

import numpy as np
import pytest

import keras
from mtl_keras import cli
from mtl_keras.commands.demo import demo


def test_demo_trains_reports_and_saves(tmp_path, capsys):
    result = demo(out=str(tmp_path / "run"), epochs=4, verbose=0, tune=False, export=False)
    printed = capsys.readouterr().out
    assert "single-task" in printed and "multi-task" in printed
    for task in ("species", "sex", "body_mass"):
        assert task in result["single_task"]
    model = keras.saving.load_model(result["path"], safe_mode=True)
    x = result["data"].test.features
    np.testing.assert_allclose(model.predict(x, verbose=0)["species"],
                               result["model"].predict(x, verbose=0)["species"], rtol=1e-6)
    history = result["model"].history.history
    assert history["loss"][-1] < history["loss"][0]


def test_demo_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "model.keras").write_bytes(b"user data")
    assert cli.main(["demo", "--out", str(out), "--quick"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (out / "model.keras").read_bytes() == b"user data"


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
