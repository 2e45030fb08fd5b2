"""The `mtl-keras demo` main job, quick mode: it trains, reports and saves."""

import numpy as np
import pytest

import keras
from mtl_keras import cli
from mtl_keras.commands.demo import demo


def test_demo_trains_reports_and_saves(tmp_path, capsys):
    result = demo(out=str(tmp_path / "run"), epochs=4, verbose=0)
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
