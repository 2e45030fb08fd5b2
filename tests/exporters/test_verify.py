import keras
import ml_dtypes
import numpy as np
import pytest

import mtl_keras as mtl
from mtl_keras.exporters import verify
from tests.exporters._models import make_model


def test_compare_bound_is_relative_with_an_absolute_floor():
    # |diff| <= 1e-6 + 1e-5 * |ref|
    assert verify.compare(np.array([100.0]), np.array([100.0009]))[2]      # 9e-4 <= 1.001e-3
    assert not verify.compare(np.array([100.0]), np.array([100.0011]))[2]  # 1.1e-3 > 1.001e-3
    assert verify.compare(np.array([0.0]), np.array([9e-7]))[2]
    assert not verify.compare(np.array([0.0]), np.array([2e-6]))[2]
    abs_d, rel_d, _ = verify.compare(np.array([2.0, -4.0]), np.array([2.5, -4.0]))
    assert abs_d == pytest.approx(0.5) and rel_d == pytest.approx(0.25)
    assert not verify.compare(np.array([1.0]), np.array([np.nan]))[2]
    with pytest.raises(verify.VerificationError, match="shape"):
        verify.compare(np.zeros((2, 1)), np.zeros((2, 3)))


def test_primary_metric_masks_missing_labels():
    task = mtl.Task("b", "multiclass", num_classes=3)
    probs = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.8, 0.1, 0.1]],
                     "float32")
    labels = np.array([0, 0, 2, -1])  # right, wrong, right, missing
    assert verify.primary_metric(task, labels, probs) == ("b_accuracy", pytest.approx(2 / 3))
    reg = mtl.Task("c", "regression")
    predictions = np.array([[1.5], [9.0]], "float32")
    assert verify.primary_metric(reg, np.array([1.0, np.nan]), predictions) == (
        "c_mae", pytest.approx(0.5))


def _run_with_offset(model, offset):
    from mtl_keras.exporters import signatures as sig

    def run(name, feed):
        out = sig.keras_outputs(model, feed)
        keys = model.task_names if name == "serving_default" else [name]
        return {k: out[k] + offset for k in keys}

    return run


def test_check_artifact_fails_float_and_reports_quantized():
    model = make_model()
    from mtl_keras.exporters import signatures as sig

    feed = sig.random_inputs(model, batch_size=4)
    names = ["serving_default", "a", "b", "c"]
    good = verify.check_artifact(model, _run_with_offset(model, 0.0), names, feed,
                                 verify.ArtifactReport("p", "tflite", "float32", 1))
    assert good.ok and len(good.checks) == 6
    with pytest.raises(verify.VerificationError, match="serving_default/a"):
        verify.check_artifact(model, _run_with_offset(model, 1e-3), names, feed,
                              verify.ArtifactReport("p", "tflite", "float32", 1))
    quantized = verify.check_artifact(model, _run_with_offset(model, 1e-3), names, feed,
                                      verify.ArtifactReport("p", "tflite", "int8", 1))
    assert quantized.ok and quantized.checks[0].max_abs_diff == pytest.approx(1e-3, rel=1e-3)


def test_check_artifact_rejects_missing_outputs():
    model = make_model()
    from mtl_keras.exporters import signatures as sig

    feed = sig.random_inputs(model, batch_size=2)
    with pytest.raises(verify.VerificationError, match="to return \\['a', 'b', 'c'\\]"):
        verify.check_artifact(model, lambda name, f: {"a": np.zeros((2, 1))},
                              ["serving_default"], feed,
                              verify.ArtifactReport("p", "tflite", "int8", 1))


def test_format_reports_table():
    checks = [verify.TaskCheck("serving_default", "a", 1e-7, 2e-7, True, "a_accuracy", 0.5, 0.75)]
    table = verify.format_reports([
        verify.ArtifactReport("/x/serving/m/1", "savedmodel", "float32", 2048, checks),
        verify.ArtifactReport("/x/m.tflite", "tflite", "int8", 512, [], note="not verified"),
    ])
    lines = table.splitlines()
    assert len(lines) == 3
    assert lines[1].split() == ["serving/m/1", "float32", "2.0", "serving_default", "a",
                                "1.00e-07", "2.00e-07", "yes", "a_accuracy", "0.5000",
                                "0.7500", "+0.2500"]
    assert lines[2].split()[:4] == ["/x/m.tflite", "int8", "0.5", "not"]


def test_tolerance_validates_its_values():
    assert verify.Tolerance(1e-3, 0) == verify.Tolerance(rtol=0.001, atol=0.0)
    for rtol, atol in ((-1e-3, 0.0), (float("nan"), 0.0), (1e-3, float("inf")), ("1", 0.0),
                       (True, 0.0)):
        with pytest.raises(ValueError, match="Expected (rtol|atol) to be a finite number >= 0"):
            verify.Tolerance(rtol, atol)
    model = make_model()
    assert verify.resolve_tolerance(model, (0.5, 0.25)) == verify.Tolerance(0.5, 0.25)
    with pytest.raises(ValueError, match="Received: tolerance=0.1"):
        verify.resolve_tolerance(model, 0.1)


@pytest.mark.parametrize("policy, dtype, bound", [
    ("float32", "float32", (1e-5, 1e-6)),
    ("mixed_float16", "float16", (1e-1, 1e-2)),
    ("mixed_bfloat16", "bfloat16", (8e-1, 8e-2)),
])
def test_default_tolerance_follows_the_compute_dtype(policy, dtype, bound):
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = make_model()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert verify.compute_dtype(model) == dtype
    assert verify.default_tolerance(model) == verify.Tolerance(*bound)
    # About 100 and 10 epsilons of the compute dtype.
    eps = float(ml_dtypes.finfo(dtype).eps)
    assert bound[0] == pytest.approx(100 * eps, rel=0.2)
    assert bound[1] == pytest.approx(10 * eps, rel=0.2)


def test_check_artifact_uses_the_given_tolerance():
    from mtl_keras.exporters import signatures as sig

    model = make_model()
    feed = sig.random_inputs(model, batch_size=4)
    names = ["serving_default", "a", "b", "c"]
    # An offset of 1e-3 everywhere: |diff| = 1e-3 <= 2e-3 + 0 * |keras|.
    report = verify.check_artifact(model, _run_with_offset(model, 1e-3), names, feed,
                                   verify.ArtifactReport("p", "onnx", "float32", 1),
                                   tolerance=(0.0, 2e-3))
    assert report.ok and report.tolerance == verify.Tolerance(0.0, 2e-3)
    with pytest.raises(verify.VerificationError,
                       match=r"beyond \|diff\| <= 0.0005 \+ 0\*\|keras\| \(the bound for "
                             r"float32 models; pass tolerance=\(rtol, atol\)"):
        verify.check_artifact(model, _run_with_offset(model, 1e-3), names, feed,
                              verify.ArtifactReport("p", "onnx", "float32", 1),
                              tolerance=verify.Tolerance(0.0, 5e-4))
