"""Every Keras internal that mtl_keras relies on still exists and behaves as assumed.

Each test names the function of `mtl_keras._keras_internals` it guards, so a
Keras release that renames or changes one fails here, loudly, rather than
somewhere deep in a training step.
"""

import pathlib
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_keras as mtl
from mtl_keras import _keras_internals as internals

PACKAGE = pathlib.Path(mtl.__file__).parent


def _model():
    tasks = [mtl.Task("a", "binary"), mtl.Task("b", "regression")]
    model = mtl.build_hard_sharing(keras.Input((3,)), mtl.backbones.mlp([4]), tasks)
    model.compile("sgd")
    return model


def test_no_other_module_imports_keras_src():
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                 if p.name != "_keras_internals.py" and "keras.src" in p.read_text()]
    assert offenders == []


def test_no_other_module_reads_private_keras_attributes():
    # model.py may read the model's own `_loss_tracker` (MultiTaskModel.track_total_loss).
    private = re.compile(r"\._(tracker|layers|flatten_layers|distribute_strategy|"
                         r"inputs_struct|outputs_struct|aggregate_additional_loss)\b")
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                 if p.name != "_keras_internals.py" and private.search(p.read_text())]
    assert offenders == []
    tracker_readers = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                       if "._loss_tracker" in p.read_text()]
    assert tracker_readers == ["model.py"]


def test_symbolic_build_hook_is_still_called_by_keras():
    # MultiTaskModel overrides it by name; a renamed hook would skip the override.
    assert internals.symbolic_build_hook_exists()
    from mtl_keras.trainer import MultiTaskTrainer

    assert internals.SYMBOLIC_BUILD_HOOK in vars(MultiTaskTrainer)


def test_loss_tracker_is_the_loss_log():
    model = _model()
    tracker = model._loss_tracker  # set by keras.Model.compile; read by track_total_loss
    assert isinstance(tracker, keras.metrics.Mean) and tracker.name == "loss"
    assert tracker in model.metrics
    model.track_total_loss(3.0, 2)
    assert float(tracker.result()) == 3.0


def test_distribution_scaling_round_trip():
    assert float(internals.scale_loss_for_distribution(tf.constant(6.0))) == 6.0
    assert float(internals.unscale_loss_for_distribution(tf.constant(6.0))) == 6.0
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    assert not internals.is_multi_worker(strategy)


def test_sublayers_and_replace_tracked():
    model = _model()
    names = {layer.name for layer in internals.sublayers(model)}
    assert {"a", "b", "trunk"} <= names
    first = model.weighting
    model.compile("sgd", weighting="dwa")  # replace_tracked drops the old strategy
    layers = internals.sublayers(model)
    assert model.weighting in layers and first not in layers


def test_metrics_list_and_untracked():
    metrics_list = internals.MetricsList([keras.metrics.Mean(name="m")])
    assert [m.name for m in metrics_list.metrics] == ["m"]

    class Holder(keras.layers.Layer):
        @internals.untracked
        def attach(self):
            self.extra = keras.metrics.Mean(name="extra")

    holder = Holder()
    holder.attach()
    assert holder.extra not in holder.metrics


def test_first_replica_batch_and_own_strategy():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = _model()
    assert internals.has_own_strategy(model)
    assert not internals.has_own_strategy(_model())
    ds = tf.data.Dataset.from_tensor_slices((np.ones((4, 3), "float32"), np.ones(4))).batch(2)
    it = iter(strategy.experimental_distribute_dataset(ds))
    batch = internals.first_replica_batch(strategy, [(0, 1, it)])
    assert tuple(batch[0].shape) == (2, 3)


def test_fit_tells_evaluate_it_is_its_validation_pass():
    import inspect

    from keras.src.backend.tensorflow import trainer as tf_trainer

    assert internals.FIT_VALIDATION_KWARG + "=True" in inspect.getsource(tf_trainer.TensorFlowTrainer.fit)
    model = _model()
    seen = []
    original = type(model).evaluate

    def spy(self, *args, **kwargs):
        seen.append(internals.is_fit_validation_call(kwargs))
        return original(self, *args, **kwargs)

    x = np.ones((4, 3), "float32")
    y = {"a": np.ones(4), "b": np.ones(4)}
    type(model).evaluate = spy
    try:
        model.fit(x, y, validation_data=(x, y), epochs=2, verbose=0)
        model.evaluate(x, y, verbose=0)
    finally:
        type(model).evaluate = original
    assert seen == [True, True, False]


def test_mean_metric_function_is_the_wrapped_function():
    # update_masked adds fn(y, p) * w and sum(w) to a plain mean metric's total and count.
    y, p = np.array([[1.0], [3.0]]), np.array([[2.0], [2.0]])
    fn = internals.mean_metric_function(keras.metrics.MeanAbsoluteError(), y, p)
    np.testing.assert_allclose(np.asarray(fn(y, p)), [1.0, 1.0])
    rmse = internals.mean_metric_function(keras.metrics.RootMeanSquaredError(), y, p)
    np.testing.assert_allclose(np.asarray(rmse(y, p)), [[1.0], [1.0]])
    for metric in (keras.metrics.SparseCategoricalAccuracy(), keras.metrics.RootMeanSquaredError()):
        assert {"total", "count"} <= {v.path.split("/")[-1] for v in metric.variables}
        assert metric.total is metric.variables[0] and metric.count is metric.variables[1]
    assert internals.mean_metric_function(keras.metrics.SparseCategoricalAccuracy(), y, p)

    class Overridden(keras.metrics.MeanMetricWrapper):
        def update_state(self, y_true, y_pred, sample_weight=None):
            return super().update_state(y_true, y_pred)

    class Rooted(keras.metrics.RootMeanSquaredError):
        pass

    for other in (keras.metrics.AUC(), Rooted(), Overridden(keras.metrics.mean_absolute_error)):
        assert internals.mean_metric_function(other, y, p) is None
    # RMSE of labels and predictions of different ranks: Keras reshapes first.
    assert internals.mean_metric_function(keras.metrics.RootMeanSquaredError(), y[:, 0], p) is None


def test_plain_mean_finish_matches_keras_results():
    # TaskMetricsList computes these metrics' results from their totals and
    # counts itself: Keras' own must be divide_no_nan(total, count), rooted for RMSE.
    y, p, w = np.array([[1.0], [3.0], [0.0]]), np.array([[2.0], [1.0], [5.0]]), np.array([1.0, 0.5, 0.0])
    for metric, finish in ((keras.metrics.MeanAbsoluteError(), "mean"),
                           (keras.metrics.BinaryAccuracy(), "mean"),
                           (keras.metrics.RootMeanSquaredError(), "sqrt")):
        assert internals.plain_mean_finish(metric) == finish
        metric.update_state(y, p, sample_weight=w)
        mean = float(metric.total) / float(metric.count)
        want = np.sqrt(mean) if finish == "sqrt" else mean
        assert float(metric.result()) == pytest.approx(want, rel=1e-6), metric.name
    assert internals.plain_mean_finish(keras.metrics.AUC()) is None
    assert internals.plain_mean_finish(keras.metrics.MeanAbsoluteError(dtype="float64")) is None
