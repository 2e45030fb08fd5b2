"""Models on raw table columns: SavedModel with raw inputs, the REST body, TFLite + vocabularies."""

import importlib.util
import json
import os

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import mtl_keras as mtl
from mtl_keras.data import DataSpec
from mtl_keras.exporters import raw_inputs
from mtl_keras.exporters.signatures import random_inputs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _rest_client():
    spec = importlib.util.spec_from_file_location(
        "rest_client", os.path.join(ROOT, "export", "rest_client.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _table(n=40):
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "size": rng.normal(3.0, 1.0, n).round(3),
        "color": [["red", "green", "blue"][i % 3] for i in range(n)],
        "count": [i % 4 for i in range(n)],
        "city": [f"c{i % 11}" for i in range(n)],
        "kind": [["a", "b", "c"][(i // 2) % 3] for i in range(n)],
        "score": rng.normal(size=n).round(3),
    })


def _model(tmp_path):
    """A (untrained) hard-sharing model on raw columns, and its resolved spec as a dict."""
    spec = DataSpec(targets={"kind": None, "score": "regression"}, train=_table(),
                    features={"size": None, "color": None, "count": "integer_categorical",
                              "city": {"type": "string_hashed", "num_bins": 5}})
    data = spec.load()
    keras.utils.set_random_seed(1)
    model = mtl.build_hard_sharing(data.inputs(), mtl.backbones.mlp([6]), data.tasks,
                                   preprocessing=data.preprocessing())
    path = data.save_spec(str(tmp_path / "data_spec.json"))
    with open(path) as f:
        return model, json.load(f)


RAW_ROW = {"size": 2.5, "color": "blue", "count": 3, "city": "c7"}


def _raw_batch(rows):
    return {"size": np.array([[r["size"]] for r in rows], "float32"),
            "color": np.array([[r["color"]] for r in rows], object),
            "count": np.array([[r["count"]] for r in rows], "int64"),
            "city": np.array([[r["city"]] for r in rows], object)}


def _keras(model, feed):
    out = model({k: tf.constant(v) for k, v in feed.items()}, training=False)
    return {k: np.asarray(v) for k, v in out.items()}


def test_default_sample_follows_the_input_dtypes(tmp_path):
    model, spec = _model(tmp_path)
    feed = random_inputs(model, batch_size=50, seed=0)
    assert feed["size"].dtype == np.float32 and feed["count"].dtype == np.int64
    # Values from the vocabularies, plus one never seen in training.
    assert set(feed["color"].ravel()) == {"red", "green", "blue", "<unseen>"}
    assert set(feed["count"].ravel()) == {0, 1, 2, 3, 4}
    assert set(feed["city"].ravel()) == {b"0"}
    # Most frequent first (red: 14 rows), ties in text order (blue, green: 13 each).
    assert spec["features"]["color"]["vocabulary"] == ["red", "blue", "green"]


def test_saved_model_without_sample_inputs_takes_raw_rows_and_the_rest_body(tmp_path):
    model, _ = _model(tmp_path)
    report = mtl.exporters.export_saved_model(model, str(tmp_path / "serving"), "table")
    assert report.ok
    loaded = tf.saved_model.load(report.path)
    signature = loaded.signatures["serving_default"]
    # The contract TF Serving relies on: one named input per column, raw dtype, (batch, 1).
    specs = signature.structured_input_signature[1]
    assert {k: (v.dtype, tuple(v.shape)) for k, v in specs.items()} == {
        "size": (tf.float32, (None, 1)), "color": (tf.string, (None, 1)),
        "count": (tf.int64, (None, 1)), "city": (tf.string, (None, 1))}
    assert sorted(signature.structured_outputs) == ["kind", "score"]

    # The REST client sends raw rows; TF Serving turns the JSON `instances` into one
    # tensor per input of the signature's dtype (text -> DT_STRING, numbers -> the
    # input's type). Do that here and call the signature.
    rows = [RAW_ROW, {"size": 4.0, "color": "purple", "count": 1, "city": "c2"}]
    body = json.loads(json.dumps(_rest_client().build_row_body(rows, "serving_default")))
    assert body["instances"][0] == {"size": [2.5], "color": ["blue"], "count": [3],
                                    "city": ["c7"]}
    tensors = {name: tf.constant([row[name] for row in body["instances"]], spec.dtype)
               for name, spec in specs.items()}
    served = {k: v.numpy() for k, v in signature(**tensors).items()}
    expected = _keras(model, _raw_batch(rows))
    for task in ("kind", "score"):
        np.testing.assert_allclose(served[task], expected[task], rtol=1e-6, atol=1e-7)


def _encode_by_hand(row, manifest):
    """What an app does with `<model>_inputs.json`: indices from the shipped vocabularies."""
    feed = {}
    for name, entry in manifest["inputs"].items():
        value = row[name]
        if entry["encoding"] == "lookup":
            vocabulary = entry["vocabulary"]
            index = (entry["num_oov_indices"] + vocabulary.index(value)
                     if value in vocabulary else 0)
            feed[name] = np.array([[index]], "int32")
        elif entry["encoding"] == "hashing":
            # FarmHash Fingerprint64 % num_bins: the app's hashing library.
            bucket = tf.strings.to_hash_bucket_fast([str(value)], entry["num_bins"])
            feed[name] = np.array([[int(bucket[0])]], "int32")
        else:
            feed[name] = np.array([[value]], "float32")
    return feed


def test_tflite_numeric_part_with_shipped_vocabularies_matches_keras(tmp_path):
    model, spec = _model(tmp_path)
    reports = mtl.exporters.export_all(model, str(tmp_path / "out"), model_name="table",
                                       formats=["tflite"], quantizations=["float32"])
    assert [r.ok for r in reports] == [True]
    with open(tmp_path / "out" / "tflite" / "table_inputs.json") as f:
        manifest = json.load(f)
    # The shipped vocabularies are the data spec's.
    assert manifest["inputs"]["color"]["vocabulary"] == spec["features"]["color"]["vocabulary"]
    assert manifest["inputs"]["count"]["vocabulary"] == spec["features"]["count"]["vocabulary"]
    assert manifest["inputs"]["city"] == {
        "feed": "int32 index, shape (batch, 1)", "dtype": "string", "depth": 5,
        "encoding": "hashing", "num_bins": 5}
    assert manifest["inputs"]["size"]["encoding"] == "none"

    interpreter = tf.lite.Interpreter(
        model_path=str(tmp_path / "out" / "tflite" / "table_float32.tflite"))
    runner = interpreter.get_signature_runner("serving_default")
    unseen = {"size": 1.0, "color": "purple", "count": 9, "city": "nowhere"}
    for row in (RAW_ROW, unseen):
        got = runner(**_encode_by_hand(row, manifest))
        expected = _keras(model, _raw_batch([row]))
        for task in ("kind", "score"):
            np.testing.assert_allclose(got[task], expected[task], rtol=1e-5, atol=1e-6)
    # The unseen color and count took the out-of-vocabulary slot 0.
    assert _encode_by_hand(unseen, manifest)["color"].tolist() == [[0]]


def test_numeric_model_and_encoders(tmp_path):
    model, _ = _model(tmp_path)
    numeric = raw_inputs.numeric_model(model)
    assert {k: keras.backend.standardize_dtype(v.dtype) for k, v in numeric.trunk.input.items()
            } == {"size": "float32", "color": "int32", "count": "int32", "city": "int32"}
    # The same weights: a change to the model shows in the numeric model.
    assert numeric.heads[0] is model.heads[0]
    raw = _raw_batch([RAW_ROW])
    encoded = raw_inputs.encode_feed(model, raw)
    # blue is the second value of the vocabulary ["red", "blue", "green"]: 1 + 1.
    assert encoded["color"].tolist() == [[2]] and encoded["size"] is raw["size"]
    np.testing.assert_allclose(_keras(numeric, encoded)["kind"], _keras(model, raw)["kind"],
                               rtol=1e-6)
    ds = raw_inputs.encode_dataset(model, tf.data.Dataset.from_tensor_slices(
        ({k: tf.constant(v) for k, v in raw.items()}, {"kind": [0]})).batch(1))
    x, y = next(iter(ds))
    assert x["color"].numpy().tolist() == [[2]] and y["kind"].numpy().tolist() == [0]
    with pytest.raises(ValueError, match="Expected a model with categorical or hashed"):
        raw_inputs.numeric_model(mtl.build_hard_sharing(
            keras.Input((2,), name="x"), mtl.backbones.mlp([2]), [mtl.Task("r", "regression")]))
    layer = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(raw_inputs.IndexOneHot(4)))
    assert layer.depth == 4
    with pytest.raises(ValueError, match="Expected depth to be an int >= 1. Received: depth=0"):
        raw_inputs.IndexOneHot(0)
