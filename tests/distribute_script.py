"""Trains small models with each weighting method, on one device or under tf.distribute.

Run by tests/test_distribute.py in subprocesses (not collected by pytest):

    python distribute_script.py mirrored METHODS          # 2 logical CPUs, prints JSON
    python distribute_script.py mirrored pcgrad@representation,mgda@parameters --epochs 1
    TF_CONFIG=... python distribute_script.py mwms METHODS OUT.json

`train(method)` is also imported by the test for the single-device reference.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import mtl_keras as mtl  # noqa: E402

GLOBAL_BATCH = 16
EPOCHS = 3


def tasks():
    # "r" is auxiliary so that the auxiliary-task methods (GCS, OL-AUX) run
    # too; the flag changes nothing for the other methods.
    return [mtl.Task("c", "binary"), mtl.Task("m", "multiclass", num_classes=3),
            mtl.Task("r", "regression", auxiliary=True)]


def data(n=64):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 4)).astype("float32")
    c = (x[:, 0] > 0).astype("int32")
    m = np.digitize(x[:, 1], [-0.5, 0.5]).astype("int32")
    r = (x[:, 2] * 2.0 + 1.0).astype("float32")
    c[::3] = -1
    r[1::4] = np.nan
    m[16:32] = -1           # the second batch has no multiclass label at all
    return x, {"c": c, "m": m, "r": r}


def dataset():
    x, y = data()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH)
    options = tf.data.Options()
    # Each worker gets its part of every global batch (rebatch, then shard).
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def _build():
    return mtl.build_hard_sharing(keras.Input((4,), name="x"), mtl.backbones.mlp([8]), tasks())


def make_weighting(method):
    """A method name, or `name@mode` for a gradient method in that mode."""
    name, _, mode = method.partition("@")
    if not mode:
        return name
    strategy = mtl.weighting.get(name)
    return type(strategy).from_config({**strategy.get_config(), "mode": mode})


def train(method, strategy=None, epochs=EPOCHS):
    """Trains from fixed initial weights.

    Returns the per-epoch task losses and weights and the final model weights.
    """
    keras.utils.set_random_seed(0)
    initial = _build().get_weights()
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = _build()
        model.set_weights(initial)
        model.compile(optimizer=keras.optimizers.SGD(0.1), weighting=make_weighting(method))
    history = model.fit(dataset(), epochs=epochs, verbose=0).history
    keys = [f"{t}_{k}" for t in ("c", "m", "r") for k in ("loss", "weight")]
    return {
        "history": {k: [float(v) for v in history[k]] for k in keys},
        "model": [np.asarray(w).tolist() for w in model.get_weights()],
    }


def main(argv):
    mode, methods = argv[1], argv[2].split(",")
    epochs = int(argv[argv.index("--epochs") + 1]) if "--epochs" in argv else EPOCHS
    if mode == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert strategy.num_replicas_in_sync == 2
        out = {m: {"single": train(m, epochs=epochs), "mirrored": train(m, strategy, epochs)}
               for m in methods}
        print("RESULT " + json.dumps(out))
    elif mode == "mwms":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        assert strategy.num_replicas_in_sync == 2
        out = {m: train(m, strategy) for m in methods}
        if json.loads(os.environ["TF_CONFIG"])["task"]["index"] == 0:
            with open(argv[3], "w") as f:
                json.dump(out, f)
    else:
        raise SystemExit(f"Expected mode mirrored or mwms. Received: {mode!r}")


if __name__ == "__main__":
    main(sys.argv)
