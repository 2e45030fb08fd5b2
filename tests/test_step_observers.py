"""`MultiTaskTrainer.add_step_observer`: code run inside the train step, before the update."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_keras as mtl


def _tasks():
    return [mtl.Task("a", "regression"), mtl.Task("b", "binary")]


def _data(n=32):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = {"a": (x[:, 0] - x[:, 1]).astype("float32"), "b": (x[:, 2] > 0).astype("float32")}
    return x, y


def _model(weighting=None):
    keras.utils.set_random_seed(1)
    model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]), _tasks())
    model.compile(optimizer=keras.optimizers.SGD(0.1), weighting=weighting)
    return model


@pytest.mark.parametrize("weighting", [None, "pcgrad"])
def test_observer_sees_the_batch_and_the_weights_before_the_update(weighting):
    x, y = _data()
    model = _model(weighting)
    reference = _model(weighting)
    reference.set_weights(model.get_weights())
    kernel = model.trunk.trainable_variables[0]
    seen_kernel = keras.Variable(np.zeros(kernel.shape, "float32"), trainable=False)
    seen_rows = keras.Variable(0.0, trainable=False)
    seen_labels = keras.Variable(0.0, trainable=False)

    def observe(x_batch, y_batch, sample_weight):
        seen_kernel.assign(kernel)
        seen_rows.assign_add(tf.cast(tf.shape(x_batch)[0], "float32"))
        seen_labels.assign_add(tf.reduce_sum(y_batch["b"]))
        return [seen_rows.value]           # the step waits for this tensor

    model.add_step_observer(observe)
    assert model.step_observers == (observe,)
    before = kernel.numpy().copy()
    model.train_on_batch(x, y)
    np.testing.assert_array_equal(seen_kernel.numpy(), before)    # read before the update
    assert not np.array_equal(kernel.numpy(), before)
    assert seen_rows.numpy() == 32.0 and seen_labels.numpy() == float(y["b"].sum())
    # Observing changes nothing in training.
    reference.train_on_batch(x, y)
    for have, want in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(have, want)


def test_observers_are_traced_into_the_function_made_after_they_are_added():
    x, y = _data()
    model = _model()
    calls = keras.Variable(0.0, trainable=False)

    def observe(x_batch, y_batch, sample_weight):
        calls.assign_add(1.0)              # returns None: nothing to wait for

    model.fit(x, y, batch_size=16, epochs=1, verbose=0)      # function made without it
    model.add_step_observer(observe)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert calls.numpy() == 0.0
    model.make_train_function(force=True)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert calls.numpy() == 2.0            # two batches of 16
    model.remove_step_observer(observe)
    model.remove_step_observer(observe)    # absent: no error
    assert model.step_observers == ()
    model.make_train_function(force=True)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert calls.numpy() == 2.0


def test_observer_must_be_callable():
    with pytest.raises(TypeError, match="Expected observer to be a callable"):
        _model().add_step_observer("count")
