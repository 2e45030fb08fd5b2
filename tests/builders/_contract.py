"""Checks every sharing architecture must pass (helpers, not fixtures)."""

import keras
import numpy as np
import tensorflow as tf

import mtl_keras as mtl


def make_tasks():
    return [mtl.Task("a", "multiclass", num_classes=3), mtl.Task("b", "binary"),
            mtl.Task("c", "regression")]


def make_inputs():
    return {"m": keras.Input((3,), name="m"), "i": keras.Input((2,), name="i")}


def make_batch(n=8, seed=0):
    rng = np.random.default_rng(seed)
    x = {"m": rng.normal(size=(n, 3)).astype("float32"),
         "i": rng.normal(size=(n, 2)).astype("float32")}
    y = {"a": rng.integers(0, 3, n).astype("int32"), "b": rng.integers(0, 2, n).astype("int32"),
         "c": rng.normal(size=n).astype("float32")}
    y["a"][0] = -1          # missing class id
    y["c"][1] = np.nan      # missing regression target
    return x, y


def check_architecture(model, tmp_path):
    """Named heads, masking, fit, .keras round trip, task_model, TFLite builtins."""
    names = ["a", "b", "c"]
    assert [h.name for h in model.heads] == names
    assert not model.has_shared_representation
    x, y = make_batch()
    out = model(x)
    assert sorted(out) == names and out["a"].shape == (8, 3)

    # Masking: the unlabelled sample changes neither the loss sum nor the count.
    sums, counts = model.step_losses(y, out)[:2]
    rest = {k: v[1:] for k, v in x.items()}
    sums_rest, _ = model.step_losses({k: v[1:] for k, v in y.items()}, model(rest))[:2]
    np.testing.assert_allclose(counts.numpy(), [7.0, 8.0, 7.0])
    np.testing.assert_allclose(sums.numpy()[0], sums_rest.numpy()[0], rtol=1e-5)

    model.compile(optimizer="adam", run_eagerly=True)
    history = model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert all(np.isfinite(v[0]) for v in history.history.values())
    assert {"a_loss", "b_loss", "c_loss", "a_weight"} <= set(history.history)

    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is type(model) and loaded.task_names == names
    expected = model.predict(x, verbose=0)
    got = loaded.predict(x, verbose=0)
    for n in names:
        np.testing.assert_allclose(got[n], expected[n], rtol=1e-6, atol=1e-6)

    single = model.task_model("b")
    np.testing.assert_allclose(single(x), expected["b"], rtol=1e-6, atol=1e-6)

    spec = {k: tf.TensorSpec((None,) + v.shape[1:], tf.float32, name=k) for k, v in x.items()}
    fn = tf.function(lambda inputs: model(inputs, training=False)).get_concrete_function(spec)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn], model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    assert len(converter.convert()) > 1000   # raises if an op needs select-TF-ops
    return loaded
