"""What tensorflow_model_server relies on, checked without the server binary.

* the signatures, through TensorFlow's own `saved_model_cli` (`show`, `run`);
* the warm-up records: they parse as `PredictionLog`s and each request runs
  against the loaded SavedModel with the right output keys and shapes.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

import mtl_keras as mtl
from mtl_keras.exporters import signatures as sig
from tests.exporters._models import make_model, make_sample

SAVED_MODEL_CLI = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")


def test_warmup_records_run_against_the_saved_model(tmp_path):
    model = make_model()
    features, _ = make_sample(n=3)
    report = mtl.exporters.export_saved_model(model, tmp_path, model_name="m",
                                              warmup_inputs=features)
    path = os.path.join(report.path, "assets.extra", "tf_serving_warmup_requests")
    records = [prediction_log_pb2.PredictionLog.FromString(r.numpy())
               for r in tf.data.TFRecordDataset(path)]
    assert len(records) == 4 and all(r.WhichOneof("log_type") == "predict_log" for r in records)
    loaded = tf.saved_model.load(report.path)
    expected_shapes = {"a": (3, 1), "b": (3, 3), "c": (3, 1)}
    for record in records:
        request = record.predict_log.request
        name = request.model_spec.signature_name
        assert request.model_spec.name == "m"
        out = loaded.signatures[name](
            **{k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()})
        keys = ["a", "b", "c"] if name == "serving_default" else [name]
        assert sorted(out) == keys
        assert {k: tuple(v.shape) for k, v in out.items()} == {k: expected_shapes[k] for k in keys}


def _cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    done = subprocess.run([SAVED_MODEL_CLI, *args], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
def test_saved_model_cli_show_and_run(tmp_path):
    model = make_model()
    report = mtl.exporters.export_saved_model(model, tmp_path, model_name="m")
    shown = _cli("show", "--dir", report.path, "--all")
    blocks = {}
    for block in shown.split("signature_def['")[1:]:
        blocks[block.split("'")[0]] = block
    assert sorted(blocks) == ["__saved_model_init_op", "a", "b", "c", "serving_default"]
    b = blocks["b"]
    assert "inputs['x'] tensor_info" in b and "inputs['z'] tensor_info" in b
    assert "outputs['b'] tensor_info" in b and "shape: (-1, 3)" in b
    assert "outputs['a']" not in b and "outputs['c']" not in b
    assert all(f"outputs['{t}']" in blocks["serving_default"] for t in "abc")

    x = np.linspace(-1, 1, 8, dtype="float32").reshape(2, 4)
    z = np.array([[0.5, -0.5], [1.0, 2.0]], "float32")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "z.npy", z)
    out_dir = tmp_path / "run"
    _cli("run", "--dir", report.path, "--tag_set", "serve", "--signature_def", "serving_default",
         "--inputs", f"x={tmp_path / 'x.npy'};z={tmp_path / 'z.npy'}",
         "--outdir", str(out_dir))
    expected = sig.keras_outputs(model, {"x": x, "z": z})
    assert sorted(os.listdir(out_dir)) == ["a.npy", "b.npy", "c.npy"]
    for name in "abc":
        np.testing.assert_allclose(np.load(out_dir / f"{name}.npy"), expected[name],
                                   rtol=1e-5, atol=1e-6)
