"""Tiny multi-task models and samples for the exporter tests (fresh objects per call)."""

import keras
import numpy as np

import mtl_keras as mtl

TASKS = (("a", "binary", None), ("b", "multiclass", 3), ("c", "regression", None))


def make_tasks():
    return [mtl.Task(n, k, num_classes=c) for n, k, c in TASKS]


def make_model(width=8, dict_inputs=True):
    """Hard sharing over {"x": (4,), "z": (2,)} (or one (4,) input), three heads."""
    if dict_inputs:
        inputs = {"x": keras.Input((4,), name="x"), "z": keras.Input((2,), name="z")}
    else:
        inputs = keras.Input((4,), name="features")
    return mtl.build_hard_sharing(inputs, mtl.backbones.mlp([width]), make_tasks())


def make_preprocessed_model(width=8):
    """`make_model` with an adapted `Normalization` on "x" (mean 10, 20, 30, 40; std 2)."""
    rng = np.random.default_rng(0)
    data = (rng.normal(size=(64, 4)) * 2.0 + [10.0, 20.0, 30.0, 40.0]).astype("float32")
    norm = keras.layers.Normalization(name="x_normalization")
    norm.adapt(data)
    inputs = {"x": keras.Input((4,), name="x"), "z": keras.Input((2,), name="z")}
    return mtl.build_hard_sharing(inputs, mtl.backbones.mlp([width]), make_tasks(),
                                  preprocessing={"x": norm})


def make_sample(n=16, seed=1, dict_inputs=True):
    """(features, labels) with one missing label per classification task."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    features = {"x": x, "z": rng.normal(size=(n, 2)).astype("float32")} if dict_inputs else x
    labels = {
        "a": rng.integers(0, 2, n).astype("int32"),
        "b": rng.integers(0, 3, n).astype("int32"),
        "c": rng.normal(size=n).astype("float32"),
    }
    labels["a"][0] = -1
    labels["b"][1] = -1
    return features, labels
