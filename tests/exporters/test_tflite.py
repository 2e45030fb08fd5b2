import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

import mtl_keras as mtl
from mtl_keras.exporters import signatures as sig
from tests.exporters._models import make_model, make_sample, make_tasks


def _dataset(n=32):
    features, labels = make_sample(n=n, seed=3)
    return tf.data.Dataset.from_tensor_slices((features, labels)).batch(8)


@pytest.mark.parametrize("quantization", ["float32", "float16", "dynamic", "int8"])
def test_every_mode_keeps_signatures_and_reports(quantization, tmp_path):
    model = make_model(width=32)
    features, labels = make_sample(n=32)
    path = tmp_path / f"m_{quantization}.tflite"
    (report,) = mtl.exporters.export_tflite(
        model, path, quantization=quantization, representative_data=_dataset(),
        sample_inputs=features, labelled_sample=(features, labels))
    assert report.path == str(path) and report.size_bytes == os.path.getsize(path)
    interpreter = Interpreter(model_path=str(path))
    signatures = interpreter.get_signature_list()
    assert sorted(signatures) == ["a", "b", "c", "serving_default"]
    assert sorted(signatures["serving_default"]["inputs"]) == ["x", "z"]
    assert sorted(signatures["serving_default"]["outputs"]) == ["a", "b", "c"]
    assert signatures["b"]["outputs"] == ["b"]
    out = interpreter.get_signature_runner("b")(**features)
    assert out["b"].shape == (32, 3) and out["b"].dtype == np.float32
    np.testing.assert_allclose(out["b"].sum(axis=1), 1.0, atol=0.02)  # softmax kept
    assert [c.metric for c in report.checks[:3]] == ["a_accuracy", "b_accuracy", "c_mae"]
    assert all(c.metric_change is not None for c in report.checks)
    if quantization == "float32":
        assert report.ok and all(c.within_tolerance for c in report.checks)
        assert all(c.metric_change == pytest.approx(0.0, abs=1e-6) for c in report.checks)
    else:
        assert max(c.max_abs_diff for c in report.checks) < 0.5
    if quantization == "int8":
        types = {d["dtype"] for d in interpreter.get_tensor_details()}
        assert np.int8 in types
        kernels = [d for d in interpreter.get_tensor_details()
                   if d["dtype"] == np.int8 and len(d["shape"]) == 2]
        assert kernels  # the dense kernels are stored as int8


def test_one_file_per_task(model, tmp_path):
    reports = mtl.exporters.export_tflite(model, tmp_path / "tasks", per_task=True)
    assert sorted(os.listdir(tmp_path / "tasks")) == ["a.tflite", "b.tflite", "c.tflite"]
    for report, name in zip(reports, "abc"):
        interpreter = Interpreter(model_path=report.path)
        assert list(interpreter.get_signature_list()) == [name]
        assert [c.task for c in report.checks] == [name] and report.ok


def test_int8_without_representative_data_writes_nothing(model, tmp_path):
    with pytest.raises(ValueError, match="Expected representative_data"):
        mtl.exporters.export_tflite(model, tmp_path / "m.tflite", quantization="int8")
    assert os.listdir(tmp_path) == []


def test_representative_data_of_the_wrong_structure(model, tmp_path):
    wrong_keys = tf.data.Dataset.from_tensor_slices({"x": np.zeros((4, 4), "float32")})
    wrong_shape = tf.data.Dataset.from_tensor_slices(
        {"x": np.zeros((4, 5), "float32"), "z": np.zeros((4, 2), "float32")})
    for data in (wrong_keys, wrong_shape):
        with pytest.raises(ValueError, match="Expected representative_data elements"):
            mtl.exporters.export_tflite(model, tmp_path / "m.tflite", quantization="int8",
                                        representative_data=data)
    assert os.listdir(tmp_path) == []


def test_unbatched_features_only_representative_data(tmp_path):
    model = make_model(dict_inputs=False)
    data = tf.data.Dataset.from_tensor_slices(np.ones((10, 4), "float32"))
    (report,) = mtl.exporters.export_tflite(model, tmp_path / "m.tflite", quantization="int8",
                                            representative_data=data, calibration_steps=10)
    assert report.quantization == "int8" and len(report.checks) == 6


class _Determinant(keras.layers.Layer):
    """Appends det(reshape(x, 2x2)): MatrixDeterminant has no TFLite builtin."""

    def call(self, x):
        det = tf.linalg.det(tf.reshape(x, (-1, 2, 2)))
        return tf.concat([x, det[:, None]], axis=-1)


def test_unconvertible_layer_names_layer_and_option(tmp_path):
    inputs = keras.Input((4,), name="x")
    trunk = keras.Model(inputs, mtl.backbones.mlp([8])(_Determinant(name="det_layer")(inputs)),
                        name="trunk")
    model = mtl.MultiTaskModel(trunk, make_tasks())
    target = tmp_path / "m.tflite"
    with pytest.raises(mtl.exporters.UnsupportedOpError) as info:
        mtl.exporters.export_tflite(model, target)
    message = str(info.value)
    assert "MatrixDeterminant" in message and "trunk/det_layer" in message
    assert "allow_select_tf_ops=True" in message and "Nothing was published" in message
    assert not target.exists()
    with pytest.warns(UserWarning, match="not verified"):
        (report,) = mtl.exporters.export_tflite(model, target, allow_select_tf_ops=True)
    assert target.exists() and report.checks == [] and "Flex" in report.note


def test_existing_file_and_directory_targets(model, tmp_path):
    target = tmp_path / "m.tflite"
    target.write_bytes(b"old")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        mtl.exporters.export_tflite(model, target)
    assert target.read_bytes() == b"old"
    with pytest.raises(FileExistsError, match="existing directory"):
        mtl.exporters.export_tflite(model, tmp_path)
    with pytest.raises(FileExistsError, match="Received: a file"):
        mtl.exporters.export_tflite(model, target, per_task=True)
    with pytest.raises(ValueError, match="Expected quantization"):
        mtl.exporters.export_tflite(model, tmp_path / "n.tflite", quantization="int4")
    assert sorted(os.listdir(tmp_path)) == ["m.tflite"]
    mtl.exporters.export_tflite(model, target, overwrite=True)
    assert target.read_bytes()[4:8] == b"TFL3"


def test_float_disagreement_publishes_nothing(model, tmp_path, monkeypatch):
    real = sig.keras_outputs
    monkeypatch.setattr(sig, "keras_outputs",
                        lambda m, f: {k: v * 1.001 + 1e-3 for k, v in real(m, f).items()})
    with pytest.raises(mtl.exporters.VerificationError, match="Nothing was published"):
        mtl.exporters.export_tflite(model, tmp_path / "m.tflite")
    assert os.listdir(tmp_path) == []
