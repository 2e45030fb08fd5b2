"""Auxiliary tasks are exported only when asked for (issue 18)."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

import mtl_keras as mtl
from mtl_keras.exporters import signatures as sig


def _model():
    tasks = [mtl.Task("a", "binary"), mtl.Task("b", "regression", auxiliary=True),
             mtl.Task("c", "regression")]
    return mtl.build_hard_sharing(keras.Input((4,), name="x"), mtl.backbones.mlp([8]), tasks)


def _outputs(fn):
    return sorted(fn.structured_outputs)


def test_default_signatures_serve_the_main_tasks_only():
    model = _model()
    assert sig.task_signatures(model) == ["a", "c"]
    fns = sig.concrete_functions(model)
    assert list(fns) == ["serving_default", "a", "c"]
    assert _outputs(fns["serving_default"]) == ["a", "c"]
    # Asked for: the auxiliary task gets its signature and is in serving_default.
    fns = sig.concrete_functions(model, tasks=["a", "b"])
    assert list(fns) == ["serving_default", "a", "b"]
    assert _outputs(fns["serving_default"]) == ["a", "b", "c"]
    assert _outputs(sig.concrete_functions(model, tasks=[])["serving_default"]) == ["a", "c"]
    with pytest.raises(ValueError, match=r"Expected task names among \['a', 'b', 'c'\]"):
        sig.task_signatures(model, ["d"])


def test_saved_model_and_tflite_leave_the_auxiliary_head_out_unless_asked(tmp_path):
    model = _model()
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    expected = model.predict(x, verbose=0)
    report = mtl.exporters.export_saved_model(model, tmp_path / "serving", model_name="m")
    loaded = tf.saved_model.load(report.path)
    assert sorted(loaded.signatures) == ["a", "c", "serving_default"]
    out = loaded.signatures["serving_default"](x=tf.constant(x))
    assert sorted(out) == ["a", "c"]
    np.testing.assert_allclose(out["c"].numpy(), expected["c"], rtol=1e-5, atol=1e-6)
    report = mtl.exporters.export_saved_model(model, tmp_path / "serving", model_name="m",
                                              tasks=model.task_names)
    loaded = tf.saved_model.load(report.path)
    assert sorted(loaded.signatures) == ["a", "b", "c", "serving_default"]
    assert sorted(loaded.signatures["serving_default"](x=tf.constant(x))) == ["a", "b", "c"]
    (report,) = mtl.exporters.export_tflite(model, tmp_path / "m.tflite")
    assert report.ok
    signatures = Interpreter(model_path=report.path).get_signature_list()
    assert sorted(signatures) == ["a", "c", "serving_default"]
    assert sorted(signatures["serving_default"]["outputs"]) == ["a", "c"]
