import json

import numpy as np
import pytest

import mtl_keras as mtl
from mtl_keras.exporters import signatures as sig
from tests.export._kit import load
from tests.exporters._models import make_model, make_sample

runner_module = load("litert_runner")


def test_runner_matches_keras_and_cli_prints_json(tmp_path, capsys):
    model = make_model()
    features, _ = make_sample(n=5)
    path = str(tmp_path / "m.tflite")
    mtl.exporters.export_tflite(model, path)
    runner = runner_module.LiteRTRunner(path)
    assert sorted(runner.signatures) == ["a", "b", "c", "serving_default"]
    assert sorted(runner.input_names("a")) == ["x", "z"] and runner.output_names("a") == ["a"]
    expected = sig.keras_outputs(model, features)
    full = runner.predict(features)
    for name in "abc":
        np.testing.assert_allclose(full[name], expected[name], rtol=1e-5, atol=1e-6)
        assert list(runner.predict(features, name)) == [name]
    with pytest.raises(ValueError, match="Missing: \\['z'\\]"):
        runner.predict({"x": features["x"]})
    with pytest.raises(ValueError, match="Expected a signature"):
        runner.predict(features, "nope")

    inputs = json.dumps({k: v[:1].tolist() for k, v in features.items()})
    assert runner_module.main([path, "--signature", "b", "--inputs", inputs]) == 0
    printed = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose(printed["b"], expected["b"][:1], rtol=1e-5, atol=1e-6)
    assert runner_module.main([path, "--list"]) == 0
    assert "serving_default" in json.loads(capsys.readouterr().out)
