import os

import pytest
import tensorflow as tf

import mtl_keras as mtl
from tests.exporters._models import make_model, make_sample


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


def test_export_all_skips_int8_without_data_and_validates(tmp_path):
    model = make_model()
    reports = mtl.exporters.export_all(model, tmp_path, formats=["tflite"],
                                       quantizations=["int8", "float32"])
    assert [r.quantization for r in reports] == ["float32"]
    for kwargs in ({"formats": ["pdf"]}, {"quantizations": ["int4"]}):
        with pytest.raises(ValueError, match="Expected"):
            mtl.exporters.export_all(model, tmp_path / "x", **kwargs)
    assert not (tmp_path / "x").exists()


def test_export_all_with_onnx(tmp_path):
    model = make_model()
    features, labels = make_sample(n=8)
    reports = mtl.exporters.export_all(model, tmp_path, model_name="m", formats=["onnx"],
                                       labelled_sample=(features, labels))
    assert [(r.format, r.path) for r in reports] == [("onnx", str(tmp_path / "onnx" / "m.onnx"))]
    assert reports[0].ok and os.listdir(tmp_path) == ["onnx"]
