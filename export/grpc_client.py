"""A client for TF Serving's gRPC PredictionService (port 8500 by default).

Needs `tensorflow-serving-api` (and TensorFlow for the tensor protos).

    python export/grpc_client.py --target localhost:8500 --model penguins \\
        --signature serving_default \\
        --inputs '{"measurements": [[39.1, 18.7, 181.0]], "island": [[0, 0, 1]]}'
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

DEFAULT_SIGNATURE = "serving_default"


def make_request(model_name: str, inputs: Any, signature_name: str = DEFAULT_SIGNATURE,
                 version: int | None = None, input_name: str | None = None):
    """A `PredictRequest`: `inputs` is `{input_name: batch}` (or one batch + `input_name`)."""
    import numpy as np
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    if not isinstance(inputs, dict):
        if input_name is None:
            raise ValueError("Expected input_name for a single (unnamed) input batch.")
        inputs = {input_name: inputs}
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    for key, value in inputs.items():
        array = np.asarray(value)
        if array.dtype == np.float64:
            array = array.astype(np.float32)  # the exported signatures take float32
        request.inputs[key].CopyFrom(tf.make_tensor_proto(array))
    return request


def parse_response(response) -> dict:
    """`{output_name: np.ndarray}` from a `PredictResponse`."""
    import tensorflow as tf

    return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}


def predict(target: str, model_name: str, inputs: Any, signature_name: str = DEFAULT_SIGNATURE,
            version: int | None = None, timeout: float = 10.0, channel=None) -> dict:
    """Calls `PredictionService.Predict`; returns `{task: np.ndarray}`."""
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    own = channel is None
    channel = grpc.insecure_channel(target) if own else channel
    try:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        reply = stub.Predict(make_request(model_name, inputs, signature_name, version),
                             timeout=timeout)
    finally:
        if own:
            channel.close()
    return parse_response(reply)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", default="localhost:8500")
    p.add_argument("--model", required=True)
    p.add_argument("--signature", default=DEFAULT_SIGNATURE)
    p.add_argument("--version", type=int, default=None)
    p.add_argument("--inputs", required=True, help="JSON: {input_name: batch}.")
    args = p.parse_args(argv)
    out = predict(args.target, args.model, json.loads(args.inputs), args.signature, args.version)
    json.dump({k: v.tolist() for k, v in out.items()}, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
