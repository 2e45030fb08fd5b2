"""One copy of each repeated array in TFLite files (exporters/flatbuffer.py)."""

import os

import flatbuffers
import keras
import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from tensorflow.lite.python import schema_py_generated as schema

import mtl_keras as mtl
from mtl_keras.exporters.flatbuffer import share_identical_vectors
from mtl_keras.exporters.saved_model import write_saved_model
from mtl_keras.exporters.tflite import convert


def _model(width):
    keras.utils.set_random_seed(0)
    tasks = [mtl.Task("a", "multiclass", num_classes=4), mtl.Task("b", "binary"),
             mtl.Task("c", "regression")]
    return mtl.build_hard_sharing(keras.Input((16,), name="x"),
                                  mtl.backbones.mlp([width, width]), tasks)


def _feeds(limit):
    rng = np.random.default_rng(0)
    for _ in range(limit):
        yield {"x": rng.normal(size=(1, 16)).astype("float32")}


def _converted(model, tmp_path, quantization):
    sm = str(tmp_path / "sm")
    if not os.path.exists(sm):
        write_saved_model(model, sm, model.task_names)
    keys = ["serving_default", *model.task_names]
    import mtl_keras.exporters.tflite as tflite_module

    original = tflite_module.share_identical_vectors
    tflite_module.share_identical_vectors = lambda content: content  # the converter's bytes
    try:
        raw = convert(sm, keys, quantization, _feeds, 20, model=model)
    finally:
        tflite_module.share_identical_vectors = original
    return raw, keys


def _buffer_starts(content):
    root = schema.Model.GetRootAsModel(content, 0)
    starts = []
    for i in range(root.BuffersLength()):
        table = root.Buffers(i)._tab
        field = flatbuffers.number_types.UOffsetTFlags.py_type(table.Offset(4))
        if field and table.VectorLen(field):
            starts.append(table.Vector(field))
    return starts


def test_same_model_fewer_bytes_aligned_buffers(tmp_path):
    model = _model(64)
    raw, keys = _converted(model, tmp_path, "int8")
    shared = share_identical_vectors(raw)
    assert len(shared) < len(raw)
    # Weight buffers keep the converter's 16-byte alignment.
    assert all(start % 16 == 0 for start in _buffer_starts(shared))
    x = {"x": np.random.default_rng(1).normal(size=(5, 16)).astype("float32")}
    before, after = Interpreter(model_content=raw), Interpreter(model_content=shared)
    assert after.get_signature_list() == before.get_signature_list()
    for key in keys:
        expected = before.get_signature_runner(key)(**x)
        got = after.get_signature_runner(key)(**x)
        assert sorted(got) == sorted(expected)
        for name in expected:   # the very same model: bit-identical outputs
            np.testing.assert_array_equal(got[name], expected[name])


def test_int8_with_every_signature_is_under_a_third_of_float32(tmp_path):
    # 256-wide trunk: int8 weights are a quarter of float32's; the per-task
    # signatures' quantization vectors are stored once, not once per signature.
    model = _model(256)
    float_raw, _ = _converted(model, tmp_path, "float32")
    int8_raw, _ = _converted(model, tmp_path, "int8")
    float_size = len(share_identical_vectors(float_raw))
    int8_size = len(share_identical_vectors(int8_raw))
    assert int8_size <= 0.30 * float_size, (int8_size, float_size)
    assert len(int8_raw) > 0.30 * float_size   # what the converter alone wrote


def test_not_smaller_returns_the_input():
    f = tf.function(lambda x: x + 1.0, input_signature=[tf.TensorSpec([1, 2], tf.float32)])
    content = tf.lite.TFLiteConverter.from_concrete_functions(
        [f.get_concrete_function()], f).convert()
    out = share_identical_vectors(content)
    assert len(out) <= len(content)
    interpreter = Interpreter(model_content=out)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"],
                           np.array([[1.0, 2.0]], "float32"))
    interpreter.invoke()
    value = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_array_equal(value, [[2.0, 3.0]])
