"""The logs every step records: the unweighted selection quantities `task_loss_sum`
and `main_task_loss_sum` are epoch means over labelled samples, independent of the
batch size and of the weighting method (unlike `loss`)."""

import numpy as np
import pytest

import keras
import mtl_keras as mtl
from mtl_keras.metrics import TaskMeans


def _data():
    rng = np.random.default_rng(0)
    x = rng.random((64, 4)).astype("float32")
    y = {"a": (x[:, 0] > 0.5).astype("int32"), "r": x.sum(axis=1)}
    y["a"][:40] = -1  # 40 of 64 samples unlabelled for "a": most batches of 8 have none
    return x, y


def _evaluate(batch_size, weighting, auxiliary=False):
    keras.utils.set_random_seed(0)
    tasks = [mtl.Task("a", "binary"), mtl.Task("r", "regression", auxiliary=auxiliary)]
    model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]), tasks)
    model.compile("adam", weighting=weighting)
    x, y = _data()
    return model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)


def test_task_loss_sum_ignores_batch_size_and_weighting():
    results = [_evaluate(bs, w) for bs in (8, 64) for w in (None, {"a": 5.0}, "uncertainty")]
    sums = [r["task_loss_sum"] for r in results]
    np.testing.assert_allclose(sums, sums[0], rtol=1e-5)
    np.testing.assert_allclose(sums[0], results[0]["a_loss"] + results[0]["r_loss"], rtol=1e-6)
    # `loss` (the weighted objective, averaged per batch) moves with both.
    losses = [r["loss"] for r in results]
    assert max(losses) - min(losses) > 0.1 * abs(sums[0])


def test_main_task_loss_sum_leaves_auxiliary_tasks_out():
    result = _evaluate(16, None, auxiliary=True)
    assert result["main_task_loss_sum"] == pytest.approx(result["a_loss"], rel=1e-6)
    assert result["task_loss_sum"] == pytest.approx(result["a_loss"] + result["r_loss"], rel=1e-6)
    assert "main_task_loss_sum" not in _evaluate(16, None)


def test_task_means_sums_hand_computed():
    means = TaskMeans(["a", "b", "c"], "_loss", sums={"s": ["a", "c"]})
    means.update_state([2.0, 3.0, 6.0], [1.0, 1.0, 2.0])
    means.update_state([4.0, 0.0, 0.0], [3.0, 0.0, 1.0])
    result = {k: float(v) for k, v in means.result().items()}
    # a: 6/4 = 1.5, c: 6/3 = 2.0
    assert result["s"] == pytest.approx(3.5)
    restored = TaskMeans.from_config(means.get_config())
    assert restored.sums == {"s": ["a", "c"]}
    with pytest.raises(ValueError, match=r"non-empty subset of \['a', 'b'\]"):
        TaskMeans(["a", "b"], "_loss", sums={"s": ["z"]})


def test_early_stopping_monitors_the_selection_quantity():
    x, y = _data()
    model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]),
                                   [mtl.Task("a", "binary"), mtl.Task("r", "regression")])
    model.compile("adam")
    stop = keras.callbacks.EarlyStopping(monitor="val_task_loss_sum", patience=1)
    history = model.fit(x, y, validation_data=(x, y), epochs=2, verbose=0, callbacks=[stop])
    assert len(history.history["val_task_loss_sum"]) == 2
    assert stop.monitor_op is not None and stop.monitor_op(1.0, 2.0)  # lower is better


def test_auxiliary_flag_is_validated_and_saved():
    task = mtl.Task("r", "regression", auxiliary=True)
    assert mtl.Task.from_config(task.get_config()).auxiliary is True
    with pytest.raises(TypeError, match="auxiliary to be True or False"):
        mtl.Task("r", "regression", auxiliary="yes")
    with pytest.raises(ValueError, match="at least one main"):
        mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]), [task])


# ------------------------------------------------------------ masked metric updates
def _masked_metrics():
    from mtl_keras.metrics import update_masked

    y_cls = np.array([2, 0, 1, 1])
    p_cls = np.array([[0.1, 0.2, 0.7], [0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.5, 0.3]],
                     "float32")
    y_reg = np.array([[1.0, 2.0], [0.0, 0.0], [3.0, 3.0], [5.0, 1.0]], "float32")
    p_reg = np.array([[2.0, 2.0], [1.0, 1.0], [3.0, 0.0], [5.0, 5.0]], "float32")
    mask = np.array([1.0, 0.0, 0.5, 2.0], "float32")  # unlabelled, then sample weights
    cases = [
        (keras.metrics.SparseCategoricalAccuracy(), y_cls, p_cls),
        (keras.metrics.MeanAbsoluteError(), y_reg, p_reg),
        (keras.metrics.MeanMetricWrapper(lambda y, p: keras.ops.abs(y - p)), y_reg, p_reg),
        (keras.metrics.RootMeanSquaredError(), y_reg, p_reg),  # a mean, rooted
        (keras.metrics.AUC(), np.array([1, 0, 0, 1]), p_cls[:, :1]),  # Keras' own update
    ]
    return update_masked, cases, mask


def test_update_masked_hand_computed():
    update_masked, cases, mask = _masked_metrics()
    # Accuracy: samples 0, 2, 3 are right, wrong, right -> (1 + 0 + 2) / 3.5.
    # MAE per sample: 0.5, (1), 1.5, 2.0 -> (0.5 + 0.75 + 4) / 3.5; the wrapped
    # per-element |y - p| is averaged over its last axis first, as Keras does.
    # RMSE: squared errors 0.5, 4.5, 8 -> sqrt((0.5 + 2.25 + 16) / 3.5).
    expected = [3 / 3.5, 5.25 / 3.5, 5.25 / 3.5, np.sqrt(18.75 / 3.5)]
    cases = cases[:4]  # AUC: compared with Keras' own update below
    for (metric, y, p), want in zip(cases, expected):
        update_masked(metric, y, p, mask)
        assert float(metric.result()) == pytest.approx(want, rel=1e-6), metric.name
    # The caller's count (the task's labelled weight, from the losses) is the count.
    metric = keras.metrics.MeanAbsoluteError()
    update_masked(metric, cases[1][1], cases[1][2], mask, count=np.float32(3.5))
    assert float(metric.count) == 3.5


def test_update_masked_reaches_the_state_of_keras_own_update():
    update_masked, cases, mask = _masked_metrics()
    references = [metric for metric, _, _ in _masked_metrics()[1]]
    for (metric, y, p), reference in zip(cases, references):
        for _ in range(2):
            update_masked(metric, y, p, mask)
            reference.update_state(y, p, sample_weight=mask)
        for got, want in zip(metric.variables, reference.variables):
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)
