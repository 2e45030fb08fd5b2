"""ONNX export: every architecture matches Keras in ONNX Runtime; bad input writes nothing."""

import builtins
import os

import numpy as np
import onnxruntime
import pytest

import mtl_keras as mtl
from mtl_keras.exporters import signatures as sig
from tests.exporters._models import make_model, make_preprocessed_model, make_sample
from tests.exporters.test_architectures import _FACTORIES, BUILDERS


def _run(path, feed):
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    inputs = {i.name.split(":")[0]: i.name for i in session.get_inputs()}
    values = session.run(names, {inputs[k]: v for k, v in feed.items()})
    return dict(zip(names, values))


@pytest.mark.parametrize("builder", BUILDERS)
def test_every_architecture_matches_keras(builder, tmp_path):
    model = _FACTORIES[builder](getattr(mtl, builder))
    features, labels = make_sample(n=8)
    path = tmp_path / "m.onnx"
    report = mtl.exporters.export_onnx(model, path, sample_inputs=features,
                                       labelled_sample=(features, labels))
    assert report.ok and report.format == "onnx" and report.size_bytes == os.path.getsize(path)
    assert [c.task for c in report.checks] == ["a", "b", "c"]
    assert all(c.metric_change == pytest.approx(0.0, abs=1e-6) for c in report.checks)
    out = _run(str(path), sig.as_feed(model, features))
    expected = model.predict(features, verbose=0)
    assert sorted(out) == ["a", "b", "c"]
    for name, value in out.items():
        np.testing.assert_allclose(value, expected[name], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("task", [None, "b"])
def test_adapted_normalization_is_folded_into_the_graph(task, tmp_path):
    # The layer's mean and variance are eager tensors the traced function
    # captures; they must become constants, not inputs ONNX Runtime asks for.
    model = make_preprocessed_model()
    norm = model.trunk.get_layer("x_normalization")
    features, labels = make_sample(n=8)
    features["x"] = features["x"] * 2.0 + np.array([10.0, 20.0, 30.0, 40.0], "float32")
    path = tmp_path / "m.onnx"
    report = mtl.exporters.export_onnx(model, path, task=task, sample_inputs=features,
                                       labelled_sample=(features, labels))
    assert report.ok
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert sorted(i.name for i in session.get_inputs()) == ["x", "z"]
    out = _run(str(path), sig.as_feed(model, features))
    expected = model.predict(features, verbose=0)
    for name in ["a", "b", "c"] if task is None else [task]:
        np.testing.assert_allclose(out[name], expected[name], rtol=1e-5, atol=1e-6)
    # Inputs at the adapted mean are all-zero after the layer: the ONNX graph
    # gives the Keras model's output for zero normalized features.
    mean = np.asarray(norm.adapt_mean, "float32")
    at_mean = {"x": np.tile(mean, (2, 1)), "z": np.zeros((2, 2), "float32")}
    out = _run(str(path), sig.as_feed(model, at_mean))
    zero = model.trunk.get_layer("mlp")(np.zeros((2, 6), "float32"))
    for name, head in zip(model.task_names, model.heads):
        if name in out:
            np.testing.assert_allclose(out[name], head(zero), rtol=1e-5, atol=1e-6)


def test_conversion_and_runtime_failures_name_onnx_and_write_nothing(tmp_path, monkeypatch):
    from mtl_keras.exporters import onnx as onnx_lib

    model = make_model()
    monkeypatch.setattr(onnx_lib, "convert", lambda *a, **k: b"not an onnx model")
    with pytest.raises(RuntimeError, match=r"ONNX Runtime cannot load .*Nothing was written"):
        mtl.exporters.export_onnx(model, tmp_path / "m.onnx")

    def fail(*args, **kwargs):
        raise KeyError("unsupported op")

    monkeypatch.setattr(onnx_lib, "convert", fail)
    with pytest.raises(RuntimeError, match=r"ONNX conversion .* failed: KeyError"):
        mtl.exporters.export_onnx(model, tmp_path / "m.onnx")
    assert os.listdir(tmp_path) == []


def test_one_task_graph_is_that_task_only_and_smaller(tmp_path):
    model = make_model(width=32)
    features, _ = make_sample(n=4)
    full = mtl.exporters.export_onnx(model, tmp_path / "all.onnx")
    report = mtl.exporters.export_onnx(model, tmp_path / "b.onnx", task="b")
    assert [(c.signature, c.task) for c in report.checks] == [("b", "b")]
    out = _run(str(tmp_path / "b.onnx"), sig.as_feed(model, features))
    assert list(out) == ["b"]
    np.testing.assert_allclose(out["b"], model.predict(features, verbose=0)["b"],
                               rtol=1e-5, atol=1e-6)
    assert report.size_bytes < full.size_bytes   # the other heads are not in the graph


def test_bad_arguments_and_existing_files_write_nothing(tmp_path):
    model = make_model()
    with pytest.raises(ValueError, match=r"Expected task among \['a', 'b', 'c'\]"):
        mtl.exporters.export_onnx(model, tmp_path / "m.onnx", task="nope")
    with pytest.raises(ValueError, match="opset"):
        mtl.exporters.export_onnx(model, tmp_path / "m.onnx", opset=9)
    with pytest.raises(FileExistsError, match="directory"):
        mtl.exporters.export_onnx(model, tmp_path)
    existing = tmp_path / "keep.onnx"
    existing.write_bytes(b"user data")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        mtl.exporters.export_onnx(model, existing)
    assert existing.read_bytes() == b"user data"
    assert sorted(os.listdir(tmp_path)) == ["keep.onnx"]


def test_disagreement_publishes_nothing(tmp_path, monkeypatch):
    model = make_model()
    real = sig.keras_outputs
    monkeypatch.setattr(sig, "keras_outputs",
                        lambda m, feed: {k: v + 1.0 for k, v in real(m, feed).items()})
    with pytest.raises(mtl.exporters.VerificationError, match="Nothing was published"):
        mtl.exporters.export_onnx(model, tmp_path / "m.onnx")
    assert os.listdir(tmp_path) == []


def test_missing_packages_say_how_to_install(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_tf2onnx(name, *args, **kwargs):
        if name == "tf2onnx":
            raise ImportError("No module named 'tf2onnx'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tf2onnx)
    with pytest.raises(ImportError, match=r'pip install "mtl-keras\[onnx\]"'):
        mtl.exporters.export_onnx(make_model(), tmp_path / "m.onnx")
    assert os.listdir(tmp_path) == []
