"""MultiTaskModel: masked losses and metrics with hand-computed values, training, bad input."""

import math

import numpy as np
import pytest
import tensorflow as tf

import keras
import mtl_keras as mtl


def _tasks():
    return [mtl.Task("cls", "multiclass", num_classes=3), mtl.Task("bin", "binary"),
            mtl.Task("reg", "regression")]


def _model(tasks=None, weighting=None):
    model = mtl.build_hard_sharing(keras.Input((4,), name="x"), mtl.backbones.mlp([8]),
                                   tasks or _tasks())
    model.compile(optimizer=keras.optimizers.SGD(0.1), weighting=weighting)
    return model


def _fixed_predictions():
    # Three samples; hand-picked probabilities and regression outputs.
    return {
        "cls": np.array([[0.5, 0.25, 0.25], [0.2, 0.2, 0.6], [0.1, 0.8, 0.1]], "float32"),
        "bin": np.array([[0.8], [0.4], [0.9]], "float32"),
        "reg": np.array([[2.0], [5.0], [3.0]], "float32"),
    }


def _labels():
    return {
        "cls": np.array([0, -1, 1]),                      # sample 2 unlabelled
        "bin": np.array([1, 0, -1]),                      # sample 3 unlabelled
        "reg": np.array([1.0, np.nan, 3.0], "float32"),   # sample 2 unlabelled
    }


def test_masked_losses_hand_computed():
    model = _model(weighting={"cls": 2.0})
    total = model.compute_loss(y=_labels(), y_pred=_fixed_predictions(), training=True)
    cls = (-math.log(0.5) - math.log(0.8)) / 2           # mean over 2 labelled samples
    bin_ = (-math.log(0.8) - math.log(0.6)) / 2
    reg = ((2 - 1) ** 2 + (3 - 3) ** 2) / 2
    np.testing.assert_allclose(float(total), 2 * cls + bin_ + reg, rtol=1e-5)
    logs = {k: float(v) for k, v in model.get_metrics_result().items()}
    np.testing.assert_allclose(logs["cls_loss"], cls, rtol=1e-5)
    np.testing.assert_allclose(logs["bin_loss"], bin_, rtol=1e-5)
    np.testing.assert_allclose(logs["reg_loss"], reg, rtol=1e-5)
    assert logs["cls_weight"] == 2.0 and logs["bin_weight"] == 1.0


def test_explicit_mask_via_sample_weight():
    model = _model()
    labels = {"cls": np.array([0, 2, 1]), "bin": np.array([1, 0, 1]),
              "reg": np.array([1.0, 0.0, 3.0], "float32")}
    sw = {"cls": np.array([1.0, 0.0, 1.0]), "bin": np.array([1.0, 1.0, 0.0]),
          "reg": np.array([0.0, 1.0, 1.0])}
    model.compute_loss(y=labels, y_pred=_fixed_predictions(), sample_weight=sw)
    logs = {k: float(v) for k, v in model.get_metrics_result().items()}
    np.testing.assert_allclose(logs["cls_loss"], (-math.log(0.5) - math.log(0.8)) / 2, rtol=1e-5)
    np.testing.assert_allclose(logs["bin_loss"], (-math.log(0.8) - math.log(0.6)) / 2, rtol=1e-5)
    np.testing.assert_allclose(logs["reg_loss"], (25 + 0) / 2, rtol=1e-5)


def test_masked_metrics_hand_computed():
    model = _model()
    logs = model.compute_metrics(None, _labels(), _fixed_predictions())
    logs = {k: float(v) for k, v in logs.items()}
    assert logs["cls_accuracy"] == 1.0                   # samples 1 and 3: argmax 0, 1
    # 0.8 -> 1 and 0.4 -> 0 are right; sample 3 (0.9, unlabelled) would count as
    # wrong against a 0 label if it were not masked: 1.0, not 2/3.
    assert logs["bin_accuracy"] == 1.0
    np.testing.assert_allclose(logs["reg_mae"], (1 + 0) / 2)
    np.testing.assert_allclose(logs["reg_rmse"], math.sqrt(0.5), rtol=1e-6)


def test_batch_without_any_label_gives_zero_loss_and_no_nan():
    model = _model()
    x = np.random.rand(4, 4).astype("float32")
    y = {"cls": np.full(4, -1), "bin": np.array([1, 0, 1, 0]),
         "reg": np.full(4, np.nan, "float32")}
    logs = model.train_on_batch(x, y, return_dict=True)
    assert logs["cls_loss"] == 0.0 and logs["reg_loss"] == 0.0
    assert all(np.isfinite(v) for v in logs.values())
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())


def test_fit_on_tf_data_logs_and_loss_falls():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = {"cls": (x[:, 0] > 0).astype("int32") + (x[:, 1] > 0).astype("int32"),
         "bin": (x[:, 2] > 0).astype("int32"),
         "reg": (x[:, 3] * 2).astype("float32")}
    y["bin"][::5] = -1
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    model = _model()
    model.compile(optimizer=keras.optimizers.Adam(0.02))
    history = model.fit(ds, validation_data=ds, epochs=4, verbose=0)
    h = history.history
    for key in ["loss", "cls_loss", "cls_accuracy", "bin_loss", "bin_auc", "reg_mae",
                "cls_weight", "val_loss", "val_reg_rmse"]:
        assert key in h, key
    assert "val_cls_weight" not in h
    assert h["loss"][-1] < 0.6 * h["loss"][0]
    preds = model.predict(x[:3], verbose=0)
    assert sorted(preds) == ["bin", "cls", "reg"]
    assert preds["cls"].shape == (3, 3)


def test_standard_callbacks(tmp_path):
    x = np.random.rand(64, 4).astype("float32")
    y = {"cls": np.random.randint(0, 3, 64), "bin": np.random.randint(0, 2, 64),
         "reg": np.random.rand(64).astype("float32")}
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    model = _model()
    ckpt = str(tmp_path / "best.keras")
    history = model.fit(ds, validation_data=ds, epochs=20, verbose=0, callbacks=[
        keras.callbacks.EarlyStopping(monitor="val_cls_loss", patience=0, min_delta=10.0),
        keras.callbacks.ModelCheckpoint(ckpt, monitor="val_reg_mae", save_best_only=True),
        keras.callbacks.TensorBoard(str(tmp_path / "tb")),
    ])
    assert len(history.history["loss"]) == 2          # stopped by EarlyStopping
    restored = keras.saving.load_model(ckpt, safe_mode=True)
    assert isinstance(restored, mtl.MultiTaskModel)
    assert any((tmp_path / "tb").rglob("events.out.tfevents*"))


def test_task_model_computes_one_head_with_shared_weights():
    model = _model()
    x = np.random.rand(5, 4).astype("float32")
    full = model.predict(x, verbose=0)
    single = model.task_model("reg")
    np.testing.assert_allclose(single.predict(x, verbose=0), full["reg"], rtol=1e-6)
    layer_names = {l.name for l in single.layers}
    assert "reg" in layer_names and "cls" not in layer_names and "bin" not in layer_names
    # Shares weights: training the multi-task model changes the task model's outputs.
    model.trunk.get_layer("mlp").blocks[0][0].kernel.assign_add(
        np.ones((4, 8), "float32"))
    assert not np.allclose(single.predict(x, verbose=0), full["reg"])
    with pytest.raises(ValueError, match=r"Unknown task 'nope'. Expected one of"):
        model.task_model("nope")


def test_multiple_named_inputs():
    inputs = {"a": keras.Input((2,), name="a"), "b": keras.Input((3,), name="b")}
    model = mtl.build_hard_sharing(inputs, mtl.backbones.mlp([8]), [mtl.Task("t", "binary")])
    model.compile()
    x = {"a": np.ones((4, 2), "float32"), "b": np.ones((4, 3), "float32")}
    model.fit(x, {"t": np.array([0, 1, 0, 1])}, epochs=1, verbose=0)
    assert model.predict(x, verbose=0)["t"].shape == (4, 1)


# ----------------------------------------------------------------- bad input
def _ds(labels, n=8):
    x = np.zeros((n, 4), "float32")
    return tf.data.Dataset.from_tensor_slices((x, labels)).batch(4)


def _ok_labels(n=8):
    return {"cls": np.zeros(n, "int32"), "bin": np.zeros(n, "int32"),
            "reg": np.zeros(n, "float32")}


def test_unknown_label_key_is_named():
    labels = dict(_ok_labels(), spam=np.zeros(8))
    with pytest.raises(ValueError, match=r"unknown task label keys \['spam'\]"):
        _model().fit(_ds(labels), epochs=1, verbose=0)


def test_missing_label_key_is_named():
    labels = _ok_labels()
    del labels["reg"]
    with pytest.raises(ValueError, match=r"no labels for \['reg'\]"):
        _model().fit(_ds(labels), epochs=1, verbose=0)


def test_label_shape_and_dtype_checked_before_training():
    model = _model()
    before = [w.copy() for w in model.get_weights()]
    labels = dict(_ok_labels(), cls=np.zeros((8, 3), "float32"))  # one-hot
    with pytest.raises(ValueError, match="class ids, not one-hot"):
        model.fit(_ds(labels), epochs=1, verbose=0)
    labels = dict(_ok_labels(), bin=np.array(["a"] * 8))
    with pytest.raises(ValueError, match="numeric labels"):
        model.fit(_ds(labels), epochs=1, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_dataset_without_labels():
    ds = tf.data.Dataset.from_tensor_slices(np.zeros((8, 4), "float32")).batch(4)
    with pytest.raises(ValueError, match="yields no labels"):
        _model().fit(ds, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="Received: y=None"):
        _model().fit(np.zeros((8, 4), "float32"), epochs=1, verbose=0)


def test_bad_weights_at_compile():
    model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]), _tasks())
    with pytest.raises(ValueError, match="finite and >= 0"):
        model.compile(weighting={"cls": -1.0})
    with pytest.raises(ValueError, match="finite and >= 0"):
        model.compile(weighting={"cls": float("nan")})
    with pytest.raises(ValueError, match=r"tasks that do not exist: \['nope'\]"):
        model.compile(weighting={"nope": 1.0})
    with pytest.raises(ValueError, match="Unknown weighting method 'nope'"):
        model.compile(weighting="nope")
    with pytest.raises(ValueError, match="takes losses and metrics from its tasks"):
        model.compile(loss="mse")


def test_loss_weights_alias_and_recompile():
    model = _model()
    model.compile(loss_weights={"reg": 3.0})
    assert model.weighting.task_weights == [1.0, 1.0, 3.0]
    assert sum(isinstance(l, mtl.weighting.Weighting) for l in model._flatten_layers()) == 1


def test_metrics_over_fully_and_partly_labelled_batches_in_a_compiled_step():
    # Metrics accumulate over a fully labelled and a partly labelled batch in
    # the compiled evaluation step: the result counts labelled samples only.
    model = _model()
    x = np.random.default_rng(1).normal(size=(8, 4)).astype("float32")
    y = {"cls": np.array([0, 1, 2, 0, 1, -1, 2, -1]),
         "bin": np.array([1, 0, 1, 1, 0, 1, -1, 0]),
         "reg": np.array([1, 2, 3, 4, np.nan, 0.5, 1, 2], "float32")}
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)   # batch 1 fully labelled
    logs = model.evaluate(ds, return_dict=True, verbose=0)
    pred = model.predict(x, verbose=0)
    keep = y["cls"] >= 0
    np.testing.assert_allclose(
        logs["cls_accuracy"], np.mean(pred["cls"][keep].argmax(-1) == y["cls"][keep]))
    keep = y["bin"] >= 0
    np.testing.assert_allclose(
        logs["bin_accuracy"], np.mean((pred["bin"][keep, 0] > 0.5) == y["bin"][keep]))
    auc = keras.metrics.AUC()
    auc.update_state(y["bin"][keep], pred["bin"][keep, 0])
    np.testing.assert_allclose(logs["bin_auc"], float(auc.result()), rtol=1e-6)
    keep = np.isfinite(y["reg"])
    np.testing.assert_allclose(
        logs["reg_mae"], np.mean(np.abs(pred["reg"][keep, 0] - y["reg"][keep])), rtol=1e-5)


def test_metric_that_builds_its_variables_on_first_update():
    # AUC(multi_label=True) without num_labels creates its variables in its
    # first (masked) update, inside the traced step.
    task = mtl.Task("tags", "multilabel", num_classes=3,
                    metrics=[keras.metrics.AUC(multi_label=True, name="auc")])
    model = _model([task])
    x = np.random.rand(16, 4).astype("float32")
    y = {"tags": np.random.default_rng(0).integers(0, 2, (16, 3))}
    logs = model.fit(x, y, batch_size=8, epochs=1, verbose=0).history
    assert 0.0 <= logs["tags_auc"][0] <= 1.0
