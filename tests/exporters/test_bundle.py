import os

import pytest
import tensorflow as tf

import mtl_keras as mtl
from tests.exporters._models import make_model, make_preprocessed_model, make_sample


def test_export_all_writes_verified_artifacts(tmp_path):
    model = make_model(width=16)
    features, labels = make_sample(n=16)
    data = tf.data.Dataset.from_tensor_slices(features).batch(4)
    reports = mtl.exporters.export_all(
        model, tmp_path, model_name="m", quantizations=["float32", "int8"],
        representative_data=data, labelled_sample=(features, labels))
    assert [(r.format, r.quantization) for r in reports] == [
        ("savedmodel", "float32"), ("tflite", "float32"), ("tflite", "int8")]
    assert reports[0].path == str(tmp_path / "serving" / "m" / "1")
    assert os.path.exists(os.path.join(reports[0].path, "assets.extra",
                                       "tf_serving_warmup_requests"))
    assert sorted(os.listdir(tmp_path / "tflite")) == ["m_float32.tflite", "m_int8.tflite"]
    assert all(r.size_bytes > 0 for r in reports)
    assert reports[0].checks[0].metric == "a_accuracy"  # the SavedModel reports metrics too
    table = mtl.exporters.format_reports(reports)
    assert "b_accuracy" in table and "m_int8.tflite" in table


def test_export_all_skips_int8_without_data_with_a_warning_and_a_report(tmp_path):
    model = make_model()
    with pytest.warns(UserWarning, match="skipped the int8 TFLite file.*representative_data"):
        reports = mtl.exporters.export_all(model, tmp_path, formats=["tflite"],
                                           quantizations=["int8", "float32"])
    assert [(r.quantization, r.skipped) for r in reports] == [("int8", True), ("float32", False)]
    assert "representative_data" in reports[0].note and reports[0].size_bytes == 0
    assert reports[0].path == str(tmp_path / "tflite" / "model_int8.tflite")
    assert os.listdir(tmp_path / "tflite") == ["model_float32.tflite"]
    assert "skipped" in mtl.exporters.format_reports(reports).splitlines()[1]


def test_export_all_validates_arguments_before_any_work(tmp_path):
    model = make_model()
    for kwargs in ({"formats": ["pdf"]}, {"quantizations": ["int4"]},
                   {"calibration_steps": 0}, {"calibration_steps": -3},
                   {"calibration_steps": True}, {"calibration_steps": 2.5},
                   {"tolerance": (-1.0, 0.0)}, {"tolerance": "loose"}):
        with pytest.raises(ValueError, match="Expected"):
            mtl.exporters.export_all(model, tmp_path / "x", **kwargs)
    with pytest.raises(ValueError, match=r"calibration_steps to be an int >= 1.*"
                                         r"Received: calibration_steps=0"):
        mtl.exporters.export_all(model, tmp_path / "x", calibration_steps=0)
    assert not (tmp_path / "x").exists()


def test_export_tflite_rejects_non_positive_calibration_steps(tmp_path):
    model = make_model()
    features, _ = make_sample(n=4)
    data = tf.data.Dataset.from_tensor_slices(features)
    for steps in (0, -1):
        with pytest.raises(ValueError, match=f"Received: calibration_steps={steps}"):
            mtl.exporters.export_tflite(model, tmp_path / "m.tflite", quantization="int8",
                                        representative_data=data, calibration_steps=steps)
    assert os.listdir(tmp_path) == []


def test_export_all_into_a_file_raises_before_any_work(tmp_path):
    model = make_model()
    target = tmp_path / "taken"
    target.write_text("user data")
    with pytest.raises(FileExistsError, match=f"out_dir.*{target}.*a file"):
        mtl.exporters.export_all(model, target)
    with pytest.raises(FileExistsError, match=f"{target}.*a file"):
        mtl.exporters.export_all(model, target / "below")
    out = tmp_path / "out"
    out.mkdir()
    (out / "tflite").write_text("in the way")
    with pytest.raises(FileExistsError, match=f"{out / 'tflite'}.*a file"):
        mtl.exporters.export_all(model, out, formats=["savedmodel", "tflite"],
                                 quantizations=["float32"])
    assert target.read_text() == "user data"
    assert sorted(os.listdir(out)) == ["tflite"]   # no serving/ either


def _tree(path):
    return sorted(os.path.relpath(os.path.join(root, f), path)
                  for root, _, files in os.walk(path) for f in files)


def test_second_export_refuses_existing_files_unless_overwrite(tmp_path):
    model = make_model()
    kwargs = dict(model_name="m", formats=["savedmodel", "tflite", "onnx"],
                  quantizations=["float32", "dynamic"])
    mtl.exporters.export_all(model, tmp_path, **kwargs)
    lite = tmp_path / "tflite" / "m_float32.tflite"
    lite.write_bytes(b"kept")        # marks the file of the first export
    before = _tree(tmp_path)
    existing = [str(lite), str(tmp_path / "tflite" / "m_dynamic.tflite"),
                str(tmp_path / "onnx" / "m.onnx")]
    with pytest.raises(FileExistsError) as info:
        mtl.exporters.export_all(model, tmp_path, **kwargs)
    assert f"Received existing: {existing}. Pass overwrite=True" in str(info.value)
    assert _tree(tmp_path) == before and lite.read_bytes() == b"kept"
    assert os.listdir(tmp_path / "serving" / "m") == ["1"]   # no version 2 either
    reports = mtl.exporters.export_all(model, tmp_path, overwrite=True, **kwargs)
    assert reports[0].path == str(tmp_path / "serving" / "m" / "2")   # versions add up
    assert lite.read_bytes()[4:8] == b"TFL3"


def test_one_failing_format_publishes_nothing(tmp_path, monkeypatch):
    from mtl_keras.exporters import onnx as onnx_lib

    model = make_model()

    class OrtFail(Exception):  # what onnxruntime raises: not a Python builtin error
        pass

    def crash(*args, **kwargs):
        raise OrtFail("[ONNXRuntimeError] : 1 : FAIL : Node (Sub) Op (Sub) "
                      "[ShapeInferenceError] internal")

    monkeypatch.setattr(onnx_lib, "build", crash)
    with pytest.raises(RuntimeError, match=r"ONNX export failed \(OrtFail: \[ONNXRuntimeError\]"
                                           r".*nothing was published"):
        mtl.exporters.export_all(model, tmp_path, model_name="m",
                                 formats=["savedmodel", "tflite", "onnx"],
                                 quantizations=["float32", "dynamic"])
    # Built and verified, but neither the SavedModel nor the TFLite files appeared.
    assert _tree(tmp_path) == []
    assert os.listdir(tmp_path / "serving" / "m") == []


def test_a_verification_failure_names_its_format_and_publishes_nothing(tmp_path, monkeypatch):
    from mtl_keras.exporters import tflite as tflite_lib

    model = make_model()
    real = tflite_lib._interpreter_runner

    def off_by_one(content):
        run = real(content)
        return lambda name, feed: {k: v + 1.0 for k, v in run(name, feed).items()}

    monkeypatch.setattr(tflite_lib, "_interpreter_runner", off_by_one)
    with pytest.raises(mtl.exporters.VerificationError,
                       match=r"tflite artifact \(float32\) disagrees.*Nothing was published"):
        mtl.exporters.export_all(model, tmp_path, model_name="m", quantizations=["float32"])
    assert _tree(tmp_path) == []


def test_export_all_with_preprocessing_and_every_format(tmp_path):
    # The README model: inputs normalized by an adapted layer (issue: ONNX
    # failed on it after the other formats were published).
    model = make_preprocessed_model()
    features, labels = make_sample(n=16)
    reports = mtl.exporters.export_all(
        model, tmp_path, model_name="m", formats=["savedmodel", "tflite", "onnx"],
        quantizations=["float32"], labelled_sample=(features, labels))
    assert [r.format for r in reports] == ["savedmodel", "tflite", "onnx"]
    assert all(r.ok and r.checks for r in reports)
    assert _tree(tmp_path / "onnx") == ["m.onnx"]
    assert _tree(tmp_path / "tflite") == ["m_float32.tflite"]


def test_export_all_with_onnx(tmp_path):
    model = make_model()
    features, labels = make_sample(n=8)
    reports = mtl.exporters.export_all(model, tmp_path, model_name="m", formats=["onnx"],
                                       labelled_sample=(features, labels))
    assert [(r.format, r.path) for r in reports] == [("onnx", str(tmp_path / "onnx" / "m.onnx"))]
    assert reports[0].ok and os.listdir(tmp_path) == ["onnx"]


def test_an_argument_error_inside_a_format_names_the_format(tmp_path):
    model = make_model()
    features, labels = make_sample(n=4)
    del features["z"]   # the labelled sample lacks an input
    with pytest.raises(ValueError, match=r"^SavedModel export: Expected inputs with keys"):
        mtl.exporters.export_all(model, tmp_path, labelled_sample=(features, labels))
    with pytest.raises(ValueError, match="Expected model_name"):
        mtl.exporters.export_all(model, tmp_path, model_name="../up", formats=["tflite"])
    assert _tree(tmp_path) == []


def test_missing_onnx_packages_are_found_before_any_work(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_onnxruntime(name, *args, **kwargs):
        if name == "onnxruntime":
            raise ImportError("No module named 'onnxruntime'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnxruntime)
    with pytest.raises(ImportError, match=r'pip install "mtl-keras\[onnx\]"'):
        mtl.exporters.export_all(make_model(), tmp_path, formats=["savedmodel", "onnx"])
    assert os.listdir(tmp_path) == []   # not even the SavedModel's temporary directory
