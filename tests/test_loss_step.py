"""The loss-level training step (`mtl_keras.loss_step`): the update it applies, when its
forward pass may run beside the batch's value check, and that a bad batch changes no
variable either way."""

import numpy as np
import pytest
import tensorflow as tf

import keras
import mtl_keras as mtl
from mtl_keras.loss_step import forward_may_assign
from tests._bad_batch import assert_rejected_and_unchanged

TASKS = [mtl.Task("a", "binary"), mtl.Task("c", "multiclass", num_classes=3),
         mtl.Task("r", "regression")]


def _trunk(kind):
    x = keras.Input((4,), name="x")
    layers = {"plain": [],
              "normalization": [keras.layers.Normalization(mean=0.5, variance=0.25)],
              "dropout": [keras.layers.Dropout(0.2)],
              "batchnorm": [keras.layers.BatchNormalization()]}[kind]
    z = x
    for layer in layers:
        z = layer(z)
    z = keras.layers.Dense(8, activation="relu")(z)
    return keras.Model(x, z, name="trunk")


def _model(kind="plain", weighting=None, optimizer=None):
    model = mtl.MultiTaskModel(_trunk(kind), TASKS)
    model.compile(optimizer=optimizer or keras.optimizers.SGD(0.1), weighting=weighting)
    return model


def _data(n=8, c=None):
    rng = np.random.default_rng(0)
    x = rng.random((n, 4)).astype("float32")
    y = {"a": (rng.random(n) > 0.5).astype("float32"),
         "c": rng.integers(0, 3, n) if c is None else c,
         "r": rng.normal(size=n).astype("float32")}
    return x, y


@pytest.mark.parametrize("kind,weighting,expected", [
    ("plain", None, False),
    ("plain", {"a": 2.0}, False),       # static weights are Python floats
    ("plain", "uncertainty", False),    # its variables are trainable
    ("normalization", None, False),     # adapt sets the statistics, call reads them
    ("dropout", None, True),            # the seed generator's state
    ("batchnorm", None, True),          # the moving statistics
    ("plain", "dwa", True),             # the loss history
    ("plain", "rlw", True),             # the seed state
])
def test_forward_may_assign(kind, weighting, expected):
    assert forward_may_assign(_model(kind, weighting)) is expected


def test_one_step_is_sgd_on_the_weighted_sum_of_the_task_losses():
    # Hand-computed reference: one SGD step on 2*L_a + L_c + 0.5*L_r (mean over the
    # batch each), through a GradientTape on the same initial variables.
    weights = {"a": 2.0, "c": 1.0, "r": 0.5}
    model = _model(weighting=weights)
    x, y = _data()
    start = [v.numpy() for v in model.trainable_variables]
    with tf.GradientTape() as tape:
        pred = model(x, training=True)
        total = (2.0 * tf.reduce_mean(keras.losses.binary_crossentropy(y["a"][:, None], pred["a"]))
                 + tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y["c"], pred["c"]))
                 + 0.5 * tf.reduce_mean(tf.square(y["r"] - pred["r"][:, 0])))
    grads = tape.gradient(total, model.trainable_variables)
    expected = [v - 0.1 * g.numpy() for v, g in zip(start, grads)]
    history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for variable, value in zip(model.trainable_variables, expected):
        np.testing.assert_allclose(variable.numpy(), value, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(history.history["loss"][0], float(total), rtol=1e-5)


@pytest.mark.parametrize("kind,weighting,optimizer", [
    ("plain", None, "adam"), ("plain", None, "adamw"), ("normalization", None, "adam"),
    ("batchnorm", None, "adam"), ("dropout", "dwa", "adamw")])
def test_a_bad_batch_changes_no_variable(kind, weighting, optimizer):
    # Whether the forward pass runs beside the check (plain, normalization) or after
    # it (state a forward pass assigns), a batch the check rejects changes nothing:
    # not the weights, the non-trainable state, the optimizer's slots or its
    # iteration count (which, like AdamW's weight decay, reads no gradient).
    optimizer = (keras.optimizers.Adam(0.01) if optimizer == "adam"
                 else keras.optimizers.AdamW(0.01, weight_decay=0.5))
    model = _model(kind, weighting, optimizer)
    model.fit(*_data(), batch_size=8, epochs=1, verbose=0)
    bad = tf.data.Dataset.from_tensors(_data(c=np.full(8, 3)))  # class id 3 of 3 classes
    assert_rejected_and_unchanged(model, bad, "whole-number class ids from 0 to 2")
