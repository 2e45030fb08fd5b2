"""A client for TF Serving's REST predict API, for models written by `mtl_keras.exporters`.

Only the standard library is needed (NumPy arrays are accepted if installed).

    python export/rest_client.py --url http://localhost:8501 --model penguins \\
        --signature species \\
        --inputs '{"measurements": [[39.1, 18.7, 181.0]], "island": [[0, 0, 1]]}'

    # A model trained from a data spec takes a raw table row:
    python export/rest_client.py --model wine --row '{"alcohol": 13.2, "hue": 1.05, ...}'

Two request forms (https://www.tensorflow.org/tfx/serving/api_rest):

* `instances` (row format): a list with one entry per example; with named
  inputs each entry is `{"input_name": value, ...}`. The response is
  `{"predictions": [...]}`: one entry per example, `{"task": value, ...}`
  for a multi-output signature, the bare value when the signature has a
  single output (a per-task signature).
* `inputs` (columnar format): `{"input_name": batch_values, ...}`; the
  response is `{"outputs": {...}}`, or the bare batch when the signature has
  a single output.

`predict` turns either response into `{task_name: nested list}` (or NumPy
arrays when NumPy is importable).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from typing import Any

DEFAULT_SIGNATURE = "serving_default"


def _to_list(value):
    return value.tolist() if hasattr(value, "tolist") else value


def _batch_size(inputs: Any) -> int:
    first = next(iter(inputs.values())) if isinstance(inputs, dict) else inputs
    return len(first)


def build_predict_body(inputs: Any, signature_name: str | None = None,
                       form: str = "instances") -> dict:
    """The JSON body of a predict request.

    Args:
        inputs: `{input_name: batch}` (named inputs) or one batch (single input);
            a batch is a nested list or a NumPy array, batch dimension first.
        signature_name: Signature to call (`serving_default` if None): a task
            name calls that task's head only.
        form: `"instances"` (row format) or `"inputs"` (columnar format).

    Returns:
        A dict ready for `json.dumps`.

    Example:

    >>> build_predict_body({"x": [[1, 2], [3, 4]]}, "a")
    {'signature_name': 'a', 'instances': [{'x': [1, 2]}, {'x': [3, 4]}]}
    >>> build_predict_body({"x": [[1, 2]]}, form="inputs")
    {'inputs': {'x': [[1, 2]]}}
    """
    body = {} if signature_name is None else {"signature_name": signature_name}
    if form == "instances":
        if isinstance(inputs, dict):
            columns = {k: _to_list(v) for k, v in inputs.items()}
            n = _batch_size(columns)
            if any(len(v) != n for v in columns.values()):
                raise ValueError(
                    "Expected every input to have the same batch size. Received: "
                    f"{ {k: len(v) for k, v in columns.items()} }")
            body["instances"] = [{k: v[i] for k, v in columns.items()} for i in range(n)]
        else:
            body["instances"] = _to_list(inputs)
    elif form == "inputs":
        body["inputs"] = ({k: _to_list(v) for k, v in inputs.items()}
                          if isinstance(inputs, dict) else _to_list(inputs))
    else:
        raise ValueError(f"Expected form 'instances' or 'inputs'. Received: form={form!r}")
    return body


def build_row_body(rows: list[dict], signature_name: str | None = None) -> dict:
    """The JSON body of a predict request for raw table rows (`instances` form).

    For a model trained from a data spec (`mtl-keras train` with a `data:`
    spec): every input is one column of shape `(batch, 1)` taking the
    column's raw value: text for a categorical column, a whole number for an
    integer one, a number otherwise. A missing number is sent as the
    feature's `fill_value` in `data_spec.json`; a missing or unseen category
    as any text (it takes the out-of-vocabulary slot).

    Args:
        rows: One `{column_input_name: raw value}` dict per row.
        signature_name: Signature to call (`serving_default` if None).

    Example:

    >>> build_row_body([{"size": 2.5, "color": "blue"}], "kind")
    {'signature_name': 'kind', 'instances': [{'size': [2.5], 'color': ['blue']}]}
    """
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise ValueError(f"Expected rows as a non-empty list of dicts. Received: {rows!r}")
    body = {} if signature_name is None else {"signature_name": signature_name}
    body["instances"] = [{k: [_to_list(v)] for k, v in row.items()} for row in rows]
    return body


def parse_predict_response(response: dict, output_names: list[str] | None) -> dict:
    """`{output_name: batch}` from a REST predict response (either form).

    Args:
        response: The decoded JSON response.
        output_names: The signature's output names, needed to name the batch of a
            single-output signature (TF Serving drops the key then); for a
            per-task signature that is `[task]`.
    """
    if "error" in response:
        raise RuntimeError(f"TF Serving error: {response['error']}")
    if "predictions" in response:
        rows = response["predictions"]
        if rows and isinstance(rows[0], dict):
            return {k: [row[k] for row in rows] for k in rows[0]}
        return {_single(output_names): rows}
    if "outputs" in response:
        outputs = response["outputs"]
        if isinstance(outputs, dict):
            return outputs
        return {_single(output_names): outputs}
    raise ValueError(
        f"Expected 'predictions' or 'outputs' in the response. Received keys: {sorted(response)}")


def _single(output_names):
    if not output_names or len(output_names) != 1:
        raise ValueError(
            "The response has one unnamed output: pass output_names=[task]. "
            f"Received: output_names={output_names!r}")
    return output_names[0]


def predict_url(base_url: str, model_name: str, version: int | None = None) -> str:
    """`<base>/v1/models/<name>[/versions/<v>]:predict`."""
    path = f"/v1/models/{model_name}" + (f"/versions/{version}" if version else "")
    return base_url.rstrip("/") + path + ":predict"


def predict(base_url: str, model_name: str, inputs: Any,
            signature_name: str = DEFAULT_SIGNATURE, version: int | None = None,
            form: str = "instances", output_names: list[str] | None = None,
            timeout: float = 10.0) -> dict:
    """Calls `:predict` and returns `{task: batch}` (NumPy arrays if available).

    For a per-task signature the single output is named after the signature.
    """
    if output_names is None and signature_name != DEFAULT_SIGNATURE:
        output_names = [signature_name]
    body = build_predict_body(inputs, signature_name, form)
    return _post(predict_url(base_url, model_name, version), body, output_names, timeout)


def predict_rows(base_url: str, model_name: str, rows: list[dict],
                 signature_name: str = DEFAULT_SIGNATURE, version: int | None = None,
                 timeout: float = 10.0) -> dict:
    """Calls `:predict` with raw table rows (`build_row_body`); returns `{task: batch}`."""
    body = build_row_body(rows, signature_name)
    return _post(predict_url(base_url, model_name, version), body,
                 None if signature_name == DEFAULT_SIGNATURE else [signature_name], timeout)


def _post(url, body, output_names, timeout):
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        result = parse_predict_response(json.loads(reply.read()), output_names)
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        return result
    return {k: np.asarray(v) for k, v in result.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="http://localhost:8501")
    p.add_argument("--model", required=True)
    p.add_argument("--signature", default=DEFAULT_SIGNATURE)
    p.add_argument("--version", type=int, default=None)
    p.add_argument("--form", choices=("instances", "inputs"), default="instances")
    given = p.add_mutually_exclusive_group(required=True)
    given.add_argument("--inputs", help="JSON: {input_name: batch} or a batch.")
    given.add_argument("--row", help='JSON: one raw table row, {"column": value, ...} (a '
                                     "model trained from a data spec).")
    args = p.parse_args(argv)
    if args.row is not None:
        out = predict_rows(args.url, args.model, [json.loads(args.row)], args.signature,
                           args.version)
    else:
        out = predict(args.url, args.model, json.loads(args.inputs), args.signature,
                      args.version, args.form)
    json.dump({k: _to_list(v) for k, v in out.items()}, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
