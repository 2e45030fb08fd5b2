"""TaskAffinity and GradientConflict during `fit`: no effect on training, averages, logs, errors."""

import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_keras as mtl
from mtl_keras.affinity import GradientConflict, TaskAffinity, lookahead_affinity

BATCH = 8


def make_tasks(dropout=0.5):
    # No metrics: they only add tracing time here.
    return [mtl.Task("a", "regression", head_units=(4,), head_dropout=dropout, metrics=[]),
            mtl.Task("b", "binary", metrics=[]),
            mtl.Task("c", "multiclass", num_classes=3, metrics=[])]


def make_data(batches=4, missing_a=(2,), missing_b=()):
    """Features and labels; tasks a and b have no label at all in the listed batches."""
    rng = np.random.default_rng(0)
    n = batches * BATCH
    x = rng.normal(size=(n, 4)).astype("float32")
    y = {"a": (x[:, 0] + 0.1 * rng.normal(size=n)).astype("float32"),
         "b": (x[:, 1] > 0).astype("int32"), "c": rng.integers(0, 3, n).astype("int32")}
    for b in missing_a:
        y["a"][b * BATCH:(b + 1) * BATCH] = np.nan
    for b in missing_b:
        y["b"][b * BATCH:(b + 1) * BATCH] = -1
    y["c"][3] = -1
    return x, y


def build(architecture="hard", weighting=None, optimizer=None, dropout=True):
    """A small model; "hard" has batch norm and (with `dropout`) dropout in trunk and a head."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((4,))
    if architecture == "hard":
        model = mtl.build_hard_sharing(
            inputs, mtl.backbones.mlp([16, 8], dropout=0.3 if dropout else 0.0, batch_norm=True),
            make_tasks(0.5 if dropout else 0.0))
    elif architecture == "mmoe":
        model = mtl.build_mmoe(inputs, make_tasks(), num_experts=2, expert_units=(8,))
    elif architecture == "ple":
        model = mtl.build_ple(inputs, make_tasks(), num_levels=2, expert_units=(8,))
    elif architecture == "cross_stitch":
        model = mtl.build_cross_stitch(inputs, [mtl.backbones.mlp([8]), mtl.backbones.mlp([8])],
                                       make_tasks())
    else:
        model = mtl.build_grouped(inputs, mtl.backbones.mlp([8]), make_tasks(),
                                  groups=[["a", "b"], ["c"]])
    model.compile(optimizer=optimizer or keras.optimizers.Adam(0.01), weighting=weighting)
    return model


def state(model):
    """Every variable of the model and its optimizer (dropout seeds, BN statistics included)."""
    return [v.numpy() for v in model.variables] + [v.numpy() for v in model.optimizer.variables]


def fit(model, callbacks, epochs=2, **kwargs):
    x, y = make_data()
    return model.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0,
                     callbacks=callbacks, **kwargs)


@pytest.mark.parametrize("architecture, weighting, conflict_mode", [
    ("hard", None, "representation"),        # dropout and batch norm in the trunk and a head
    pytest.param("mmoe", "pcgrad", "parameters", marks=pytest.mark.slow),  # a gradient step
])
def test_training_is_bit_identical_with_the_callbacks(architecture, weighting, conflict_mode):
    plain = build(architecture, weighting)
    reference = fit(plain, [])
    probed = build(architecture, weighting)
    # Both due on the same steps: one probed function to trace (the test's cost).
    history = fit(probed, [TaskAffinity(every_n_steps=2),
                           GradientConflict(every_n_steps=2, mode=conflict_mode)])
    for expected, got in zip(state(plain), state(probed)):
        np.testing.assert_array_equal(got, expected)
    for key, values in reference.history.items():
        assert history.history[key] == values
    assert "affinity/b_to_c" in history.history and "grad_cosine/a_vs_c" in history.history


def test_measure_affinity_averages_over_measured_steps_with_missing_labels(tmp_path):
    # Batches 0 and 2 are measured (every 2nd step). Task a has no label in
    # batch 2, so its pairs average over batch 0 only; task b has none in
    # batches 0 and 2, so its pairs are never measured (NaN). (Without
    # dropout: random masks differ between compiled and eager code.)
    lr = 0.05
    x, y = make_data(batches=4, missing_a=(2,), missing_b=(0, 2))
    model = build("hard", optimizer=keras.optimizers.SGD(lr), dropout=False)
    result = mtl.affinity.measure_affinity(
        model, x, y, batch_size=BATCH, epochs=1, every_n_steps=2, jit_compile=False,
        shuffle=False, verbose=0,
        callbacks=[GradientConflict(every_n_steps=2, jit_compile=False),
                   keras.callbacks.TensorBoard(str(tmp_path))])

    twin = build("hard", optimizer=keras.optimizers.SGD(lr), dropout=False)
    totals, counts = np.zeros((3, 3)), np.zeros((3, 3))
    for b in range(4):
        xb = x[b * BATCH:(b + 1) * BATCH]
        yb = {k: v[b * BATCH:(b + 1) * BATCH] for k, v in y.items()}
        if b % 2 == 0:
            z = lookahead_affinity(twin, xb, yb, learning_rate=lr)
            totals += (z.values * z.measured).numpy()
            counts += z.measured.numpy()
        twin.train_on_batch(xb, yb)
    expected_counts = [[1, 0, 1], [0, 0, 0], [1, 0, 2]]
    np.testing.assert_array_equal(result.counts, expected_counts)
    np.testing.assert_array_equal(counts, expected_counts)
    with np.errstate(invalid="ignore"):
        expected = totals / counts
    scale = np.nanmax(np.abs(expected))
    np.testing.assert_allclose(result.matrix, expected, rtol=1e-4, atol=1e-5 * scale)
    assert result.learning_rate is None    # the optimizer's, step by step

    logs = result.history
    assert len(logs["loss"]) == 1
    assert sorted(k for k in logs if k.startswith("affinity/")) == sorted(
        f"affinity/{i}_to_{j}" for i in "abc" for j in "abc")
    assert sorted(k for k in logs if k.startswith("grad_")) == sorted(
        f"grad_{kind}/{p}" for kind in ("cosine", "conflict")
        for p in ("a_vs_b", "a_vs_c", "b_vs_c"))
    assert np.isnan(logs["affinity/a_to_b"][0]) and np.isnan(logs["grad_cosine/b_vs_c"][0])
    assert logs["affinity/a_to_c"][0] == pytest.approx(result.matrix[0, 2])
    assert -1.0 <= logs["grad_cosine/a_vs_c"][0] <= 1.0
    assert logs["grad_conflict/a_vs_c"][0] in (0.0, 1.0)   # one measured step
    tags = set()
    for path in glob.glob(os.path.join(str(tmp_path), "train", "*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(value.tag for value in event.summary.value)
    assert {"epoch_affinity/a_to_c", "epoch_grad_cosine/a_vs_c"} <= tags


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["mmoe", "ple", "cross_stitch"])
def test_every_sharing_architecture(architecture):
    model = build(architecture)
    affinity = TaskAffinity(every_n_steps=1)
    fit(model, [affinity], epochs=1)
    result = affinity.result()
    assert np.isfinite(result.matrix).all() and result.counts.min() == 3
    assert (np.diag(result.matrix) > 0).all()   # a task's own step lowers its own loss


def test_grouped_sharing_and_repeated_fit():
    model = build("grouped")     # groups [a, b] and [c]
    affinity = TaskAffinity(every_n_steps=1, jit_compile=False)   # (the un-compiled path)
    fit(model, [affinity], epochs=1)
    first = affinity.result()
    assert np.isfinite(first.matrix).all() and first.counts.min() == 3
    assert (np.diag(first.matrix) > 0).all()   # a task's own step lowers its own loss
    # Groups share nothing: a step on c moves nothing a or b use, and vice versa.
    np.testing.assert_array_equal(first.matrix[2, :2], 0.0)
    np.testing.assert_array_equal(first.matrix[:2, 2], 0.0)
    # After training the model's own train function is back; a second fit
    # with the callback restarts the average; a fit without it measures nothing.
    plain_function = model.train_function
    assert not isinstance(plain_function, mtl.affinity.probe._Dispatcher)
    fit(model, [affinity], epochs=1)
    assert model.train_function is plain_function
    np.testing.assert_array_equal(affinity.result().counts, first.counts)
    fit(model, [], epochs=1)
    np.testing.assert_array_equal(affinity.result().counts, first.counts)


def test_mirrored_strategy_on_one_device():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = build("hard", dropout=False)
    # Un-compiled, as with several replicas (whose collectives XLA cannot hold).
    affinity = TaskAffinity(every_n_steps=1, jit_compile=False)
    conflict = GradientConflict(every_n_steps=1, jit_compile=False)
    history = fit(model, [affinity, conflict], epochs=1)
    reference = build("hard", dropout=False)
    reference_affinity = TaskAffinity(every_n_steps=1, jit_compile=False)
    reference_conflict = GradientConflict(every_n_steps=1, jit_compile=False)
    reference_history = fit(reference, [reference_affinity, reference_conflict], epochs=1)
    for expected, got in zip(state(reference), state(model)):
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(affinity.result().counts, reference_affinity.result().counts)
    np.testing.assert_allclose(affinity.result().matrix, reference_affinity.result().matrix,
                               rtol=1e-5, atol=1e-7)
    for key in ("grad_cosine/a_vs_b", "grad_conflict/b_vs_c"):
        np.testing.assert_allclose(history.history[key], reference_history.history[key],
                                   rtol=1e-5)


def test_bad_arguments():
    for make, message in [
        (lambda: TaskAffinity(every_n_steps=0),
         "every_n_steps to be an int >= 1. Received: every_n_steps=0"),
        (lambda: TaskAffinity(every_n_steps=2.5), "every_n_steps=2.5"),
        (lambda: TaskAffinity(every_n_steps=True), "every_n_steps=True"),
        (lambda: TaskAffinity(learning_rate=0.0), "learning_rate to be finite and > 0"),
        (lambda: GradientConflict(every_n_steps=-1), "every_n_steps=-1"),
        (lambda: GradientConflict(mode="weights"), "mode to be one of"),
        (lambda: TaskAffinity(jit_compile="yes"), "jit_compile to be one of"),
        (lambda: GradientConflict(jit_compile=1), "jit_compile to be one of"),
        (lambda: mtl.affinity.measure_affinity(None, epochs=0),
         "Expected epochs to be an int >= 1. Received: epochs=0"),
        (lambda: TaskAffinity().result(), "has not trained yet"),
    ]:
        with pytest.raises(ValueError, match=message):
            make()


def _single_task():
    model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]),
                                   [mtl.Task("a", "regression", metrics=[])])
    model.compile(optimizer="adam")
    return model, {"a": make_data()[1]["a"]}


def _soft_sharing():
    model = mtl.build_soft_sharing(keras.Input((4,)), mtl.backbones.mlp([8]), make_tasks())
    model.compile(optimizer="adam")
    return model, make_data()[1]


def _steps_per_execution():
    model = build("hard")
    model.compile(optimizer="adam", steps_per_execution=2)
    return model, make_data()[1]


def test_bad_models_fail_before_training():
    for make_model, callback, message in [
        (_single_task, TaskAffinity, r"at least two tasks. Received: tasks=\['a'\]"),
        (_soft_sharing, TaskAffinity, "every trainable variable feeds a single task"),
        (_soft_sharing, GradientConflict, "every trainable variable feeds a single task"),
        (_steps_per_execution, TaskAffinity,
         "steps_per_execution=1. Received: steps_per_execution=2"),
        (lambda: (build("mmoe"), make_data()[1]), GradientConflict,
         "Expected mode='parameters'"),
    ]:
        model, y = make_model()
        before = [v.numpy() for v in model.trainable_variables]
        with pytest.raises(ValueError, match=message):
            model.fit(make_data()[0], y, batch_size=BATCH, epochs=1, verbose=0,
                      callbacks=[callback()])
        assert int(model.optimizer.iterations) == 0
        for expected, got in zip(before, model.trainable_variables):
            np.testing.assert_array_equal(got.numpy(), expected)


def test_serialization_round_trip():
    for callback in (TaskAffinity(every_n_steps=5, learning_rate=0.01, jit_compile=False),
                     GradientConflict(every_n_steps=3, mode="parameters", jit_compile=True)):
        config = keras.saving.serialize_keras_object(callback)
        again = keras.saving.deserialize_keras_object(config)
        assert type(again) is type(callback) and again.get_config() == callback.get_config()
