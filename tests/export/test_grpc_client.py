"""The gRPC client against an in-process PredictionService backed by the SavedModel."""

from concurrent import futures

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

import mtl_keras as mtl
from mtl_keras.exporters import signatures as sig
from tests.export._kit import load
from tests.exporters._models import make_model, make_sample

client = load("grpc_client")


def test_make_request_fields():
    request = client.make_request("m", {"x": np.ones((2, 4)), "z": np.zeros((2, 2), "float32")},
                                  "b", version=3)
    assert request.model_spec.name == "m" and request.model_spec.signature_name == "b"
    assert request.model_spec.version.value == 3
    x = tf.make_ndarray(request.inputs["x"])
    assert x.dtype == np.float32 and x.shape == (2, 4)  # float64 sent as float32
    assert sorted(request.inputs) == ["x", "z"]
    with pytest.raises(ValueError, match="input_name"):
        client.make_request("m", np.ones((1, 4)))
    single = client.make_request("m", np.ones((1, 4)), input_name="features")
    assert list(single.inputs) == ["features"]


class _Service(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, loaded):
        self.loaded = loaded

    def Predict(self, request, context):  # noqa: N802
        fn = self.loaded.signatures[request.model_spec.signature_name or "serving_default"]
        out = fn(**{k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()})
        response = predict_pb2.PredictResponse()
        response.model_spec.CopyFrom(request.model_spec)
        for k, v in out.items():
            response.outputs[k].CopyFrom(tf.make_tensor_proto(v.numpy()))
        return response


def test_predict_over_grpc(tmp_path):
    model = make_model()
    features, _ = make_sample(n=4)
    report = mtl.exporters.export_saved_model(model, tmp_path, model_name="m")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        _Service(tf.saved_model.load(report.path)), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        target = f"127.0.0.1:{port}"
        expected = sig.keras_outputs(model, features)
        full = client.predict(target, "m", features)
        assert sorted(full) == ["a", "b", "c"]
        for name in "abc":
            np.testing.assert_allclose(full[name], expected[name], rtol=1e-5, atol=1e-6)
        only_c = client.predict(target, "m", features, signature_name="c")
        assert list(only_c) == ["c"] and only_c["c"].shape == (4, 1)
    finally:
        server.stop(0)
