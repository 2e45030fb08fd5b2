"""REST request bodies and responses, end to end against a stand-in for TF Serving.

The stand-in (`_FakeServing`) implements TF Serving's documented REST predict
semantics (row and columnar forms, single-output unwrapping) on top of the
exported SavedModel's signatures, so the client is exercised on real outputs.
"""

import http.server
import json
import threading

import numpy as np
import pytest
import tensorflow as tf

import mtl_keras as mtl
from mtl_keras.exporters import signatures as sig
from tests.export._kit import load
from tests.exporters._models import make_model, make_sample

rest = load("rest_client")


def test_instances_body_is_one_object_per_example():
    body = rest.build_predict_body(
        {"x": np.array([[1.0, 2.0], [3.0, 4.0]]), "z": [[5], [6]]}, "a")
    assert body == {"signature_name": "a",
                    "instances": [{"x": [1.0, 2.0], "z": [5]}, {"x": [3.0, 4.0], "z": [6]}]}
    assert json.loads(json.dumps(body)) == body
    assert rest.build_predict_body([[1, 2], [3, 4]]) == {"instances": [[1, 2], [3, 4]]}


def test_inputs_body_is_columnar():
    body = rest.build_predict_body({"x": np.array([[1.0, 2.0]]), "z": [[5]]}, form="inputs")
    assert body == {"inputs": {"x": [[1.0, 2.0]], "z": [[5]]}}
    assert rest.build_predict_body([[1, 2]], "b", form="inputs") == {
        "signature_name": "b", "inputs": [[1, 2]]}


def test_body_errors():
    with pytest.raises(ValueError, match="same batch size"):
        rest.build_predict_body({"x": [[1], [2]], "z": [[1]]})
    with pytest.raises(ValueError, match="Expected form"):
        rest.build_predict_body({"x": [[1]]}, form="rows")


def test_parse_responses_of_both_forms():
    rows = {"predictions": [{"a": [0.1], "c": [2.0]}, {"a": [0.9], "c": [3.0]}]}
    assert rest.parse_predict_response(rows, None) == {"a": [[0.1], [0.9]], "c": [[2.0], [3.0]]}
    assert rest.parse_predict_response({"predictions": [[0.1], [0.9]]}, ["a"]) == {
        "a": [[0.1], [0.9]]}
    assert rest.parse_predict_response({"outputs": {"a": [[0.1]]}}, None) == {"a": [[0.1]]}
    assert rest.parse_predict_response({"outputs": [[0.1]]}, ["a"]) == {"a": [[0.1]]}
    with pytest.raises(ValueError, match="output_names"):
        rest.parse_predict_response({"outputs": [[0.1]]}, None)
    with pytest.raises(RuntimeError, match="bad input"):
        rest.parse_predict_response({"error": "bad input"}, None)
    assert rest.predict_url("http://h:8501/", "m", 3) == \
        "http://h:8501/v1/models/m/versions/3:predict"


class _FakeServing(http.server.BaseHTTPRequestHandler):
    """TF Serving's REST predict semantics over a loaded SavedModel."""

    loaded = None
    model_name = None

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert self.path == f"/v1/models/{self.model_name}:predict"
        fn = self.loaded.signatures[body.get("signature_name", "serving_default")]
        if "instances" in body:
            rows = body["instances"]
            feed = {k: tf.constant([r[k] for r in rows], tf.float32) for k in rows[0]}
        else:
            feed = {k: tf.constant(v, tf.float32) for k, v in body["inputs"].items()}
        out = {k: v.numpy().tolist() for k, v in fn(**feed).items()}
        if "instances" in body:
            n = len(body["instances"])
            reply = {"predictions": [{k: v[i] for k, v in out.items()} for i in range(n)]
                     if len(out) > 1 else next(iter(out.values()))}
        else:
            reply = {"outputs": out if len(out) > 1 else next(iter(out.values()))}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_client_against_rest_semantics(tmp_path):
    model = make_model()
    features, _ = make_sample(n=3)
    report = mtl.exporters.export_saved_model(model, tmp_path, model_name="m")
    handler = type("Handler", (_FakeServing,),
                   {"loaded": tf.saved_model.load(report.path), "model_name": "m"})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        expected = sig.keras_outputs(model, features)
        for form in ("instances", "inputs"):
            full = rest.predict(url, "m", features, form=form)
            assert sorted(full) == ["a", "b", "c"]
            for name in "abc":
                np.testing.assert_allclose(full[name], expected[name], rtol=1e-5, atol=1e-6)
            only_b = rest.predict(url, "m", features, signature_name="b", form=form)
            assert list(only_b) == ["b"] and only_b["b"].shape == (3, 3)
    finally:
        server.shutdown()
        server.server_close()
