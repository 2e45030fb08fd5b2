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


# ------------------------------------------------ the container of the tasks' metrics
def _task_metric_cases():
    """Two tasks' metrics and batches: a plain mean, a rooted mean and AUC (its own state)."""
    _, cases, mask = _masked_metrics()
    (acc, y_cls, p_cls), (mae, y_reg, p_reg), (wrapped, _, _), (rmse, _, _), (auc, y_bin, p_bin) = cases
    groups = [[acc], [mae, wrapped, rmse], [auc]]
    batches = [(y_cls, p_cls, mask, None), (y_reg, p_reg, mask, None), (y_bin, p_bin, mask, None)]
    return groups, batches


def test_task_metrics_list_hand_computed_and_like_keras_own_updates():
    from mtl_keras.metrics import TaskMetricsList

    groups, batches = _task_metric_cases()
    metrics = TaskMetricsList(groups, ["a_loss"])
    # The four plain means share the container's two vectors; AUC keeps its own state.
    assert tuple(metrics.total.shape) == (4,) and tuple(metrics.count.shape) == (4,)
    for _ in range(2):
        metrics.update_tasks(batches)
    result = {k: float(v) for k, v in metrics.result().items()}
    # Same values as one update (test_update_masked_hand_computed): the state doubled.
    expected = [3 / 3.5, 5.25 / 3.5, 5.25 / 3.5, np.sqrt(18.75 / 3.5)]
    names = [groups[0][0].name, *[m.name for m in groups[1]]]
    for name, want in zip(names, expected):
        assert result[name] == pytest.approx(want, rel=1e-6), name
    np.testing.assert_allclose(np.asarray(metrics.count), [7.0] * 4)
    # The same results as Keras' own updates with the mask as sample weights (AUC too).
    _, references, mask = _masked_metrics()
    for metric, (reference, y, p) in zip([m for g in groups for m in g], references):
        for _ in range(2):
            reference.update_state(y, p, sample_weight=mask)
        assert result[metric.name] == pytest.approx(float(reference.result()), rel=1e-6)
    metrics.reset_state()
    assert all(float(v) == 0.0 for v in metrics.result().values())
    assert not np.asarray(metrics.total).any() and not np.asarray(metrics.count).any()


def test_task_metrics_list_takes_the_callers_counts():
    from mtl_keras.metrics import TaskMetricsList

    groups, batches = _task_metric_cases()
    metrics = TaskMetricsList(groups, [])
    batches[1] = batches[1][:3] + (np.float32(7.0),)  # a count twice sum(mask)
    metrics.update_tasks(batches)
    np.testing.assert_allclose(np.asarray(metrics.count), [3.5, 7.0, 7.0, 7.0])
    assert float(metrics.result()[groups[1][0].name]) == pytest.approx(5.25 / 7.0)


def test_task_metrics_list_keeps_own_state_where_keras_update_differs():
    from mtl_keras.metrics import TaskMetricsList

    class Last(keras.metrics.MeanMetricWrapper):  # its own result: not a plain mean
        def __init__(self, name="last"):
            super().__init__(lambda y, p: keras.ops.abs(y - p), name=name)

        def result(self):
            return self.total

    rmse = keras.metrics.RootMeanSquaredError(name="rmse")
    double = keras.metrics.MeanAbsoluteError(name="mae64", dtype="float64")
    metrics = TaskMetricsList([[Last(), double], [rmse]], [])
    assert metrics.total.shape == (1,)  # only the RMSE is shared
    # Labels of rank 1 for predictions of rank 2: Keras' RMSE aligns the ranks
    # itself, so this update goes through its own `update_state`.
    y, p, mask = np.array([1.0, 2.0, 4.0]), np.array([[2.0], [2.0], [0.0]]), np.array([1.0, 1.0, 0.0])
    metrics.update_tasks([(y[:, None], p, mask, None), (y, p, mask, None)])
    reference = keras.metrics.RootMeanSquaredError()
    reference.update_state(y, p, sample_weight=mask)
    result = {k: float(v) for k, v in metrics.result().items()}
    assert result["rmse"] == pytest.approx(float(reference.result())) == pytest.approx(np.sqrt(0.5))
    assert result["last"] == pytest.approx(1.0)   # |1 - 2| + |2 - 2|, its total
    assert result["mae64"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"one batch per task \(2\). Received: 1"):
        metrics.update_tasks([(y, p, mask, None)])
    with pytest.raises(NotImplementedError, match="update_tasks"):
        metrics.update_state(y, p)


def test_fit_logs_the_shared_metrics_like_keras_own_updates():
    # A model's task metrics, through `fit`'s compiled step, give the same
    # logs as Keras' own metrics updated on the labelled samples only.
    keras.utils.set_random_seed(1)
    tasks = [mtl.Task("a", "binary"), mtl.Task("r", "regression")]
    model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]), tasks)
    model.compile(keras.optimizers.SGD(0.0))  # predictions fixed during the epoch
    x, y = _data()
    logs = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    pred = model.predict(x, verbose=0)
    labelled = y["a"] >= 0
    acc = keras.metrics.BinaryAccuracy()
    acc.update_state(y["a"][labelled, None].astype("float32"), pred["a"][labelled])
    rmse = keras.metrics.RootMeanSquaredError()
    rmse.update_state(y["r"][:, None], pred["r"])
    assert logs["a_accuracy"] == pytest.approx(float(acc.result()), rel=1e-5)
    assert logs["r_rmse"] == pytest.approx(float(rmse.result()), rel=1e-5)
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert history.history["a_accuracy"][0] == pytest.approx(float(acc.result()), rel=1e-5)
    assert history.history["r_mae"][0] == pytest.approx(
        float(np.mean(np.abs(y["r"] - pred["r"][:, 0]))), rel=1e-5)


def test_evaluation_prepares_each_tasks_labels_once(monkeypatch):
    # The evaluation step's losses and metrics read the same prepared labels,
    # as the training step's do: one `prepare_labels` per task in each trace.
    tasks = [mtl.Task("a", "binary"), mtl.Task("r", "regression")]
    model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]), tasks)
    model.compile("adam")
    x, y = _data()
    calls = []
    original = mtl.Task.prepare_labels

    def counted(self, *args, **kwargs):
        calls.append(self.name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(mtl.Task, "prepare_labels", counted)
    traces = []
    for step in ("train_step", "test_step"):
        def traced(self, *args, _step=getattr(mtl.MultiTaskModel, step), **kwargs):
            traces.append(_step.__name__)
            return _step(self, *args, **kwargs)
        monkeypatch.setattr(mtl.MultiTaskModel, step, traced)
    logs = model.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
    assert traces and set(traces) == {"test_step"}
    assert calls == ["a", "r"] * len(traces)  # one preparation per task and trace
    calls.clear(), traces.clear()
    model.fit(x, y, batch_size=64, epochs=1, verbose=0)
    assert traces and set(traces) == {"train_step"}
    assert calls == ["a", "r"] * len(traces)
    assert "a_weight" not in logs and {"loss", "a_loss", "a_accuracy", "r_rmse"} <= set(logs)
