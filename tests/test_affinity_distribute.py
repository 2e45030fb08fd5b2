"""TaskAffinity and GradientConflict on two logical CPUs equal the one-device run.

Logical devices must be configured before TensorFlow initializes, so the
runs happen in a subprocess: this file is also the script it runs
(`python tests/test_affinity_distribute.py <architecture>`), which prints one
`RESULT {json}` line with both runs.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["hard", "mmoe"])
def test_mirrored_strategy_on_two_logical_cpus_matches_one_device(architecture):
    result = subprocess.run([sys.executable, os.path.abspath(__file__), architecture],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    line = [l for l in result.stdout.splitlines() if l.startswith("RESULT ")][-1]
    runs = json.loads(line[len("RESULT "):])
    single, mirrored = runs["single"], runs["mirrored"]
    assert mirrored["replicas"] == 2
    np.testing.assert_array_equal(mirrored["counts"], single["counts"])
    # 2 epochs of 4 batches; task a has no label in the first batch of each.
    assert single["counts"][0] == [6, 6, 6] and single["counts"][1] == [6, 8, 8]
    np.testing.assert_allclose(np.array(mirrored["matrix"], float),
                               np.array(single["matrix"], float), rtol=1e-4, atol=1e-6)
    for key, values in single["logs"].items():
        np.testing.assert_allclose(mirrored["logs"][key], values, rtol=1e-4, atol=1e-6,
                                   err_msg=key)
    for expected, got in zip(single["weights"], mirrored["weights"]):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def _run(architecture, strategy):
    import keras
    import tensorflow as tf

    import mtl_keras as mtl

    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = {"a": x[:, 0].copy(), "b": (x[:, 1] > 0).astype("int32"),
         "c": rng.integers(0, 3, 32).astype("int32")}
    y["a"][:8] = np.nan       # no label for task a in the first batch
    y["c"][10] = -1
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    with strategy.scope():
        tasks = [mtl.Task("a", "regression", metrics=[]), mtl.Task("b", "binary", metrics=[]),
                 mtl.Task("c", "multiclass", num_classes=3, metrics=[])]
        inputs = keras.Input((4,))
        if architecture == "hard":
            model = mtl.build_hard_sharing(inputs, mtl.backbones.mlp([16, 8]), tasks)
        else:
            model = mtl.build_mmoe(inputs, tasks, num_experts=2, expert_units=(8,))
        model.compile(optimizer=keras.optimizers.SGD(0.05))
    affinity = mtl.affinity.TaskAffinity(every_n_steps=1)
    conflict = mtl.affinity.GradientConflict(
        every_n_steps=1, mode="representation" if architecture == "hard" else "parameters")
    history = model.fit(data, epochs=2, verbose=0, callbacks=[affinity, conflict])
    result = affinity.result()
    return {
        "replicas": strategy.num_replicas_in_sync,
        "matrix": [[None if np.isnan(v) else float(v) for v in row] for row in result.matrix],
        "counts": result.counts.tolist(),
        "logs": {k: [float(v) for v in vs] for k, vs in history.history.items() if "/" in k},
        "weights": [v.numpy().tolist() for v in model.trainable_variables],
    }


def main(architecture):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    single = _run(architecture, tf.distribute.get_strategy())
    mirrored = _run(architecture, tf.distribute.MirroredStrategy(devices))
    print("RESULT " + json.dumps({"single": single, "mirrored": mirrored}))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main(sys.argv[1])
