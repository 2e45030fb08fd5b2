"""`GradientStep`: gradient methods inside `model.fit`.

Equivalence with equal weighting for the plain-sum rule (both modes, with
regularization and missing labels), every method end-to-end with a `.keras`
round trip, architecture checks, mixed precision, bad gradients, and
MirroredStrategy on two logical CPUs (in a subprocess, which also loads a
saved model in a fresh process with `safe_mode=True`).
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_keras as mtl
from mtl_keras.weighting import SharedGradientWeighting
from tests._bad_batch import assert_rejected_and_unchanged


class _SumRule(SharedGradientWeighting):
    """Plain sum of the present tasks' gradients: must equal equal weighting."""

    def combine_gradients(self, grads, present, losses=None):
        return tf.reduce_sum(grads, axis=0), present


def _tasks():
    return [mtl.Task("a", "regression"), mtl.Task("b", "binary")]


def _regularized_model():
    inputs = keras.Input((4,), name="x")
    z = keras.layers.Dense(8, activation="tanh", kernel_regularizer=keras.regularizers.L2(0.1),
                           name="shared")(inputs)
    return mtl.MultiTaskModel(keras.Model(inputs, z, name="trunk"), _tasks())


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = {"a": (x[:, 0] + 0.5 * x[:, 1]).astype("float32"),
         "b": (x[:, 2] > 0).astype("float32")}
    return x, y


@pytest.mark.parametrize("mode", ["parameters", "representation"])
def test_sum_rule_equals_equal_weighting(mode):
    x, y = _data(16)
    y["a"][:3] = np.nan                      # missing labels for task a
    reference = _regularized_model()
    model = _regularized_model()
    model.set_weights(reference.get_weights())
    reference.compile(optimizer=keras.optimizers.SGD(0.1))
    model.compile(optimizer=keras.optimizers.SGD(0.1), weighting=_SumRule(mode=mode))
    expected = reference.train_on_batch(x, y, return_dict=True)
    got = model.train_on_batch(x, y, return_dict=True)
    for key in ("loss", "a_loss", "b_loss", "regularization_loss"):
        assert got[key] == pytest.approx(expected[key], rel=1e-5)
    for want, have in zip(reference.get_weights(), model.get_weights()):
        np.testing.assert_allclose(have, want, rtol=1e-5, atol=1e-6)


def test_absent_task_is_left_out_and_zero_gradients_do_not_crash():
    x, y = _data(16)
    y["b"][:] = np.nan                       # task b absent from the whole batch
    model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]), _tasks())
    model.compile(optimizer="sgd", weighting="mgda")
    logs = model.train_on_batch(x, y, return_dict=True)
    assert logs["b_weight"] == 0.0 and logs["a_weight"] == pytest.approx(1.0)
    # Every task masked out by a zero sample weight: an all-zero matrix.
    before = model.get_weights()
    model.compile(optimizer="sgd", weighting="nash_mtl")
    zeros = {"a": np.zeros(16, "float32"), "b": np.zeros(16, "float32")}
    logs = model.train_on_batch(x, _data(16)[1], sample_weight=zeros, return_dict=True)
    assert all(np.isfinite(v) for v in logs.values())
    for want, have in zip(before, model.get_weights()):
        np.testing.assert_array_equal(have, want)


METHODS = [("gradnorm", "representation"), ("mgda_ub", "representation"), ("pcgrad", "parameters"),
           ("graddrop", "representation"), ("gradvac", "parameters"),
           ("imtl_g", "representation"), ("cagrad", "parameters"),
           ("nash_mtl", "representation"), ("aligned_mtl", "parameters"),
           ("upgrad", "representation")]


@pytest.mark.parametrize("name,mode", METHODS)
def test_method_trains_in_fit_and_round_trips(name, mode, tmp_path):
    x, y = _data()
    model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([16]), _tasks())
    strategy = mtl.weighting.get(name)
    strategy.mode = mode
    model.compile(optimizer=keras.optimizers.Adam(0.02), weighting=strategy)
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    assert all(np.isfinite(history[f"{t}_weight"]).all() for t in ("a", "b"))
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded.weighting) is type(model.weighting)
    assert loaded.weighting.get_config() == model.weighting.get_config()
    for want, have in zip(model.weighting.variables, loaded.weighting.variables):
        np.testing.assert_array_equal(np.asarray(have), np.asarray(want))
    np.testing.assert_allclose(loaded.predict(x[:4], verbose=0)["a"],
                               model.predict(x[:4], verbose=0)["a"], rtol=1e-6)


class _LossRecorder(SharedGradientWeighting):
    """Sums the rows; records whether `losses` came (per trace) and its values."""

    def __init__(self, needs_losses=False, **kwargs):
        super().__init__(**kwargs)
        self.needs_losses = needs_losses
        self.got_losses = []

    def build(self, input_shape=None):
        self.seen = self.add_weight(shape=(self.num_tasks,), initializer="zeros",
                                    trainable=False, name="seen")

    def combine_gradients(self, grads, present, losses=None):
        self.got_losses.append(losses is not None)
        if losses is not None:
            self.seen.assign(losses)
        return tf.reduce_sum(grads, axis=0), present


@pytest.mark.parametrize("needs_losses", [False, True])
def test_every_rule_gets_losses_only_when_it_declares_them(needs_losses):
    x, y = _data(8)
    y["a"][:2] = np.nan                      # task a: mean over its 6 labels
    model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]), _tasks())
    rule = _LossRecorder(needs_losses=needs_losses, mode="representation")
    model.compile(optimizer="sgd", weighting=rule)
    pred = model.predict(x, verbose=0)       # the weights the step starts from
    model.train_on_batch(x, y)
    assert rule.got_losses and set(rule.got_losses) == {needs_losses}
    if needs_losses:
        labelled = ~np.isnan(y["a"])
        mse = np.mean((pred["a"][labelled, 0] - y["a"][labelled]) ** 2)
        p = np.clip(pred["b"][:, 0], 1e-7, 1 - 1e-7)
        bce = -np.mean(y["b"] * np.log(p) + (1 - y["b"]) * np.log(1 - p))
        np.testing.assert_allclose(rule.seen.numpy(), [mse, bce], rtol=1e-5)
    else:
        np.testing.assert_array_equal(rule.seen.numpy(), [0.0, 0.0])


def test_representation_mode_needs_a_shared_representation():
    x, y = _data(16)
    soft = mtl.build_soft_sharing(keras.Input((4,)), mtl.backbones.mlp([8]), _tasks())
    with pytest.raises(ValueError, match="mode='parameters'"):
        soft.compile(optimizer="sgd", weighting="mgda_ub")  # refused before any step
    mmoe = mtl.build_mmoe(keras.Input((4,)), _tasks(), num_experts=2, expert_units=(8,))
    mmoe.compile(optimizer="sgd", weighting="pcgrad")        # parameters mode fits
    assert np.isfinite(mmoe.fit(x, y, epochs=1, verbose=0).history["loss"][0])


def test_mixed_precision_with_loss_scaling():
    x, y = _data(32)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]), _tasks())
        model.compile(optimizer=keras.optimizers.SGD(0.05),
                      weighting=mtl.weighting.PCGrad(mode="representation", seed=0))
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        history = model.fit(x, y, batch_size=16, epochs=3, verbose=0).history
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert np.isfinite(history["loss"]).all()
    assert history["loss"][-1] < history["loss"][0]


@pytest.mark.parametrize("jit_compile", ["auto", False])
def test_non_finite_gradient_names_the_task_and_changes_nothing(jit_compile):
    x, y = _data(16)
    model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]), _tasks())
    model.compile(optimizer="adam", weighting=mtl.weighting.GradVac(beta=0.5, seed=0),
                  jit_compile=jit_compile)
    model.train_on_batch(x, y)                # a good step sets GradVac's targets
    before = [v.numpy().copy() for v in model.variables]
    y["a"][0] = 3e38                         # (pred - y)^2 overflows: inf gradient
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"gradient of task\(s\)"):
        model.train_on_batch(x, y)
    after = {v.path: v.numpy() for v in model.variables}
    for v, old in zip(model.variables, before):
        if "step" in v.path:                 # the random rules' draw counter may move on
            continue
        np.testing.assert_array_equal(after[v.path], old, err_msg=v.path)


@pytest.mark.parametrize("name", ["pcgrad", "graddrop", "gradvac", "nash_mtl"])
def test_xla_compiled_step_matches_the_uncompiled_one(name):
    # The default step compiles the gradient computation and the rule with
    # XLA; the random rules draw the same orders and masks either way.
    x, y = _data(64)
    y["a"][:5] = np.nan
    weights = {}
    for jit_compile in ("auto", False):
        keras.utils.set_random_seed(3)
        model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8, 8]), _tasks())
        config = mtl.weighting.get(name).get_config()
        if "seed" in config:
            config["seed"] = 5
        strategy = type(mtl.weighting.get(name)).from_config(config)
        model.compile(optimizer=keras.optimizers.SGD(0.05), weighting=strategy,
                      jit_compile=jit_compile)
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        assert model.gradient_step.jit_compile == (jit_compile == "auto")
        weights[jit_compile] = [v.numpy() for v in model.trainable_variables]
    for a, b in zip(weights["auto"], weights[False]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


_SUBPROCESS = textwrap.dedent("""
    import json, os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np
    import mtl_keras as mtl

    out = {}
    loaded = keras.saving.load_model(sys.argv[1], safe_mode=True)   # fresh process
    out["loaded"] = [type(loaded.weighting).__name__,
                     loaded.weighting.targets.numpy().tolist()]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype("float32")
    y = {"a": x[:, 0].copy(), "b": (x[:, 1] > 0).astype("float32")}
    y["a"][:8] = np.nan          # replica 0 has no label of task a
    tasks = [mtl.Task("a", "regression"), mtl.Task("b", "binary")]

    def run(strategy, mode, init):
        with strategy.scope():
            keras.utils.set_random_seed(1)
            model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]), tasks)
            if init is not None:
                model.set_weights(init)
            model.compile(optimizer=keras.optimizers.SGD(0.1),
                          weighting=mtl.weighting.MGDA(mode=mode))
        ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
        logs = model.fit(ds, epochs=1, verbose=0).history
        return model, {k: v for k, v in logs.items() if k.endswith("weight")}

    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])   # one per process
    for mode in ("parameters", "representation"):
        one, logs_one = run(tf.distribute.get_strategy(), mode, None)
        two, logs_two = run(mirrored, mode, None)
        out[mode] = {
            "replicas": 2,
            "weights_one": logs_one, "weights_two": logs_two,
            "max_param_diff": max(float(np.max(np.abs(a - b)))
                                  for a, b in zip(one.get_weights(), two.get_weights())),
        }
    print("RESULT" + json.dumps(out))
""")


@pytest.mark.slow
def test_mirrored_strategy_matches_one_device_and_fresh_process_load(tmp_path):
    x, y = _data(32)
    model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]), _tasks())
    model.compile(optimizer="adam", weighting=mtl.weighting.GradVac(beta=0.5, seed=0))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    path = str(tmp_path / "gradvac.keras")
    model.save(path)
    script = tmp_path / "script.py"
    script.write_text(_SUBPROCESS)
    result = subprocess.run([sys.executable, str(script), path], capture_output=True,
                            text=True, timeout=600, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    lines = [l for l in result.stdout.splitlines() if l.startswith("RESULT")]
    assert lines, result.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT"):])
    assert out["loaded"][0] == "GradVac"
    np.testing.assert_allclose(out["loaded"][1], model.weighting.targets.numpy(), atol=1e-7)
    for mode in ("parameters", "representation"):
        res = out[mode]
        for key, values in res["weights_one"].items():
            np.testing.assert_allclose(res["weights_two"][key], values, rtol=1e-4, atol=1e-5,
                                       err_msg=f"{mode}: {key}")
        assert res["max_param_diff"] < 1e-5, mode


def test_layers_without_xla_support_keep_the_step_uncompiled():
    # A string lookup in the trunk cannot be compiled with XLA: with "auto"
    # the gradient step then runs un-compiled, as Keras does for such models.
    island = keras.Input((1,), dtype="string", name="island")
    size = keras.Input((1,), name="size")
    ids = keras.layers.StringLookup(vocabulary=["Biscoe", "Dream"], output_mode="one_hot")(island)
    z = keras.layers.Dense(4, activation="tanh")(keras.layers.Concatenate()([ids, size]))
    trunk = keras.Model({"island": island, "size": size}, z)
    model = mtl.MultiTaskModel(trunk, _tasks())
    model.compile(optimizer="sgd", weighting="pcgrad")
    assert not model.gradient_step.jit_compile
    x = {"island": tf.constant([["Biscoe"], ["Dream"], ["Torgersen"], ["Dream"]] * 4),
         "size": np.linspace(-1, 1, 16, dtype="float32")[:, None]}
    y = {"a": np.linspace(0, 1, 16, dtype="float32"), "b": np.tile([0.0, 1.0], 8)}
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    history = model.fit(data, epochs=2, verbose=0).history
    assert np.isfinite(history["loss"]).all()


def test_auto_leaves_conv_nets_uncompiled_on_cpu():
    # On CPU a compiled step was faster for MLP trunks but slower for a small
    # conv net, so "auto" compiles only models without convolutions there.
    conv = mtl.build_hard_sharing(keras.Input((12, 12)),
                                  mtl.backbones.conv(filters=(2, 4), kernel_size=3,
                                                     dense_units=4), _tasks())
    conv.compile(optimizer="sgd", weighting="pcgrad")
    assert not conv.gradient_step.jit_compile
    conv.compile(optimizer="sgd", weighting="pcgrad", jit_compile=True)
    assert conv.gradient_step.jit_compile
    mlp = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]), _tasks())
    mlp.compile(optimizer="sgd", weighting="pcgrad")
    assert mlp.gradient_step.jit_compile


@pytest.mark.parametrize("name", ["mgda", "pcgrad"])
@pytest.mark.parametrize("jit_compile", ["auto", False])
def test_a_bad_batch_changes_no_variable(name, jit_compile):
    # MGDA keeps no state: its gradients are computed beside the batch's value
    # check and only the update waits. PCGrad counts its steps (a variable the
    # rule assigns): its whole step waits. Either way, compiled with XLA or
    # not, a batch the check rejects raises the check's readable error and
    # changes nothing: weights, the rule's state, the optimizer's slots and
    # its iteration count.
    tasks = [mtl.Task("a", "regression"), mtl.Task("c", "multiclass", num_classes=3)]
    model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]), tasks)
    model.compile(optimizer=keras.optimizers.Adam(0.01), weighting=name, jit_compile=jit_compile)
    rng = np.random.default_rng(0)
    x = rng.random((8, 4)).astype("float32")
    y = {"a": rng.normal(size=8).astype("float32"), "c": rng.integers(0, 3, 8)}
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert model.gradient_step.jit_compile == (jit_compile == "auto")
    bad = tf.data.Dataset.from_tensors((x, {"a": y["a"], "c": np.full(8, 3)}))  # id 3 of 3
    assert_rejected_and_unchanged(model, bad, "whole-number class ids from 0 to 2")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # and training goes on
    assert int(model.optimizer.iterations) == 2
