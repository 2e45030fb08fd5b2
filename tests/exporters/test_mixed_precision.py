"""Mixed-precision models: exported within their dtype's bound, reloaded with their optimizer."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import mtl_keras as mtl
from mtl_keras.exporters import verify
from tests.exporters._models import make_model, make_preprocessed_model, make_sample


@pytest.fixture
def mixed_float16():
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")


def test_savedmodel_and_onnx_of_a_float16_model_pass_its_bound(mixed_float16, tmp_path):
    model = make_preprocessed_model(width=32)
    assert verify.compute_dtype(model) == "float16"
    features, labels = make_sample(n=32)
    features["x"] = features["x"] * 2.0 + np.array([10.0, 20.0, 30.0, 40.0], "float32")
    reports = mtl.exporters.export_all(
        model, tmp_path, model_name="m", formats=["savedmodel", "onnx"],
        labelled_sample=(features, labels))
    assert [r.format for r in reports] == ["savedmodel", "onnx"]
    for report in reports:
        assert report.ok and report.tolerance == verify.Tolerance(1e-1, 1e-2)
    # TensorFlow runs the same float16 graph: the SavedModel is bit-identical.
    assert all(c.max_abs_diff == 0.0 for c in reports[0].checks)


def test_tflite_of_a_float16_model_computes_in_float32_and_passes_its_bound(
        mixed_float16, tmp_path):
    model = make_preprocessed_model(width=32)
    features, labels = make_sample(n=32)
    features["x"] = features["x"] * 2.0 + np.array([10.0, 20.0, 30.0, 40.0], "float32")
    reports = mtl.exporters.export_all(model, tmp_path, model_name="m",
                                       quantizations=["float32", "dynamic"],
                                       labelled_sample=(features, labels))
    assert [(r.format, r.quantization) for r in reports] == [
        ("savedmodel", "float32"), ("tflite", "float32"), ("tflite", "dynamic")]
    lite = reports[1]
    assert lite.ok and lite.tolerance == verify.Tolerance(1e-1, 1e-2)
    assert "float32 copy of this float16 model" in lite.note
    # The file is the float32 copy: same variables (the adapted normalization
    # included), float32 arithmetic, so it matches that copy to float32 precision.
    from ai_edge_litert.interpreter import Interpreter

    from mtl_keras.exporters import precision

    copy = precision.float32_copy(model)
    assert verify.compute_dtype(copy) == "float32"
    expected = copy.predict(features, verbose=0)
    runner = Interpreter(model_path=lite.path).get_signature_runner("serving_default")
    out = runner(**features)
    for name in ("a", "b", "c"):
        np.testing.assert_allclose(out[name], expected[name], rtol=1e-5, atol=1e-5)


_LOAD = textwrap.dedent("""
    import json, os, sys, warnings
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import keras
    import mtl_keras  # registers the classes
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = keras.saving.load_model(sys.argv[1], safe_mode=True)
    optimizer = model.optimizer
    print(json.dumps({
        "policy": keras.mixed_precision.global_policy().name,
        "model_policy": model.dtype_policy.name,
        "optimizer": type(optimizer).__name__,
        "variables": [[v.name, v.numpy().tolist()] for v in optimizer.variables],
        "warnings": [str(w.message) for w in caught],
    }))
""")


@pytest.mark.parametrize("optimizer", ["adam", "adam_object"])
def test_fresh_process_load_keeps_the_loss_scale_optimizer_state(optimizer, tmp_path):
    x, y = make_sample(n=32)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = make_model()
        model.compile(optimizer="adam" if optimizer == "adam" else keras.optimizers.Adam(0.01))
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        path = str(tmp_path / "m.keras")
        model.save(path)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    saved = [[v.name, v.numpy().tolist()] for v in model.optimizer.variables]
    assert type(model.optimizer).__name__ == "LossScaleOptimizer"
    # Loaded where the global policy is float32 (a fresh process's default).
    result = subprocess.run([sys.executable, "-c", _LOAD, path], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["policy"] == "float32"
    assert loaded["model_policy"] == "mixed_float16"
    assert loaded["optimizer"] == "LossScaleOptimizer"
    assert not [w for w in loaded["warnings"] if "Skipping variable loading" in w]
    # In order: the wrapper's own (unused) step and rate, its step counter and
    # loss scale, then Adam's step, rate and moments.
    assert [name for name, _ in loaded["variables"]] == [name for name, _ in saved]
    assert [name for name, _ in saved[:6]] == [
        "iteration", "learning_rate", "step_counter", "dynamic_scale", "iteration",
        "learning_rate"]
    assert saved[2][1] == 4 and saved[4][1] == 4   # 32 samples in batches of 8
    assert saved[3][1] == 2.0 ** 15                # the initial loss scale, kept
    for (name, value), (_, got) in zip(saved, loaded["variables"]):
        np.testing.assert_array_equal(got, value, err_msg=name)
