"""A model saved in one process loads with safe_mode=True in a fresh process."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import keras
import mtl_keras as mtl


def _trained_model():
    data = mtl.data.load_penguins()
    model = mtl.build_hard_sharing(data.inputs(), mtl.backbones.mlp([16]), data.tasks,
                                   preprocessing=data.preprocessing())
    model.compile(optimizer=keras.optimizers.Adam(0.01), weighting={"sex": 2.0})
    model.fit(data.dataset("train"), epochs=1, verbose=0)
    return model, data


def test_round_trip_in_process(tmp_path):
    model, data = _trained_model()
    path = str(tmp_path / "m.keras")
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(restored, mtl.MultiTaskModel)
    assert [t.get_config() for t in restored.tasks] == [t.get_config() for t in model.tasks]
    assert restored.weighting.task_weights == [1.0, 2.0, 1.0]
    a = model.predict(data.test.features, verbose=0)
    b = restored.predict(data.test.features, verbose=0)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    # Optimizer state came back too: one more step gives identical weights.
    batch = next(iter(data.dataset("train", shuffle=False)))
    model.train_on_batch(*batch)
    restored.train_on_batch(*batch)
    for w1, w2 in zip(model.get_weights(), restored.get_weights()):
        np.testing.assert_allclose(w1, w2, rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_round_trip_in_fresh_process(tmp_path):
    model, data = _trained_model()
    path = tmp_path / "m.keras"
    model.save(str(path))
    x = {k: v[:5].tolist() for k, v in data.test.features.items()}
    x5 = {k: v[:5] for k, v in data.test.features.items()}
    expected = {k: v.tolist() for k, v in model.predict(x5, verbose=0).items()}
    script = textwrap.dedent(f"""
        import json, sys, numpy as np, keras
        import mtl_keras  # registers the mtl_keras classes, as a user does
        model = keras.saving.load_model({str(path)!r}, safe_mode=True)
        x = {{k: np.asarray(v, "float32") for k, v in json.loads(sys.argv[1]).items()}}
        out = model.predict(x, verbose=0)
        print(json.dumps({{k: v.tolist() for k, v in out.items()}}))
    """)
    result = subprocess.run([sys.executable, "-c", script, json.dumps(x)], capture_output=True,
                            text=True, timeout=240,
                            env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]
    got = json.loads(result.stdout.strip().splitlines()[-1])
    for k in expected:
        np.testing.assert_array_equal(np.asarray(got[k], "float32"),
                                      np.asarray(expected[k], "float32"))


def test_public_layers_serialize():
    for layer in [mtl.layers.MLP((4, 2), dropout=0.1, batch_norm=True),
                  mtl.layers.ConvEncoder((2, 3), dense_units=5),
                  mtl.layers.TaskHead(3, hidden_units=(4,), output_activation="softmax",
                                      name="t")]:
        config = keras.saving.serialize_keras_object(layer)
        clone = keras.saving.deserialize_keras_object(config)
        assert type(clone) is type(layer)
        assert clone.get_config() == layer.get_config()
    m = mtl.TaskMeans(["a"], "_x")
    assert keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(m)).get_config() == m.get_config()
