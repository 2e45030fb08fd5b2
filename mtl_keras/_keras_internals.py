"""Every use of Keras internals in mtl_keras, in one place.

Each function below wraps one private Keras name that has no public
equivalent, says why it is needed, and is exercised by
`tests/test_keras_internals.py`, which fails loudly (naming the function)
if a Keras release renames or changes it. setup.cfg allows only the Keras
versions this suite has run on (3.15; widen the range after running the
suite, this module's tests first, on a new release).

Nothing else in the package may import `keras.src` or read a private
attribute of a Keras object.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras.src import backend as _backend
from keras.src.backend.tensorflow import trainer as _tf_trainer
from keras.src.losses import loss as _loss_module
from keras.src.trainers import compile_utils as _compile_utils
from keras.src.utils import tracking as _tracking

#: Keras' container of compiled metrics. `TaskMetricsList` subclasses it so that
#: callbacks with `mode="auto"` find the direction of `val_<task>_<metric>`
#: (they look metrics up in such containers only).
MetricsList = _compile_utils.MetricsList

#: Runs a method without Keras' automatic tracking of the attributes it sets
#: (trackers rebuilt on every `compile` must not become saved sub-objects).
untracked = _tracking.no_automatic_dependency_tracking

#: Name of the `Trainer` hook that builds a model from one batch before `fit`
#: under a distribution strategy; `MultiTaskModel` overrides it (see
#: `first_replica_batch`). `tests/test_keras_internals.py` checks it exists, so
#: a renamed hook cannot silently skip the override.
SYMBOLIC_BUILD_HOOK = "_maybe_symbolic_build"


def scale_loss_for_distribution(value):
    """Divides a loss term by the number of replicas (Keras' own rule)."""
    return _loss_module.scale_loss_for_distribution(value)


def unscale_loss_for_distribution(value):
    """Multiplies a loss term back by the number of replicas, for logging."""
    return _loss_module.unscale_loss_for_distribution(value)


def is_multi_worker(strategy) -> bool:
    """Whether Keras reduces logs across workers (MultiWorkerMirroredStrategy)."""
    return bool(_tf_trainer._collective_all_reduce_multi_worker(strategy))


def has_own_strategy(model: keras.Model) -> bool:
    """Whether `model` was created under a `tf.distribute` strategy's scope."""
    return model._distribute_strategy is not None


def sublayers(layer: keras.layers.Layer) -> list:
    """Every layer nested in `layer` (recursively), without `layer` itself."""
    return list(layer._flatten_layers(include_self=False))


def replace_tracked(model: keras.Model, old, new, attribute: str) -> None:
    """Sets `model.<attribute> = new`, dropping `old` from the model's sub-layers.

    A compiled model's tracker is locked, and Keras keeps a layer assigned to
    an attribute in its list of sub-layers (and weights) after the attribute
    is re-assigned: recompiling with another weighting strategy must replace
    the strategy, not add a second one.
    """
    tracker = model._tracker
    locked = tracker.locked
    tracker.unlock()
    try:
        if old is not None and old is not new:
            tracker.untrack(old)
            if old in model._layers:
                model._layers.remove(old)
        setattr(model, attribute, new)
    finally:
        if locked:
            tracker.lock()


def first_replica_batch(strategy, iterator):
    """This worker's first replica's part of the next batch of a Keras iterator."""
    for _, _, it in iterator:
        batch = next(it)
        return tf.nest.map_structure(
            lambda v: strategy.experimental_local_results(v)[0]
            if isinstance(v, tf.distribute.DistributedValues) else v,
            batch,
        )
    return None


#: Keyword that `fit` passes to `evaluate` for its per-epoch validation pass
#: (the validation data then is the dataset `fit` was given, already built).
FIT_VALIDATION_KWARG = "_use_cached_eval_dataset"


def is_fit_validation_call(evaluate_kwargs: dict) -> bool:
    """Whether `evaluate` was called by `fit` for its per-epoch validation."""
    return bool(evaluate_kwargs.get(FIT_VALIDATION_KWARG, False))


def mean_metric_function(metric, y_true, y_pred):
    """The per-sample function of a plain mean metric, or None.

    For a `MeanMetricWrapper` (accuracy, MAE, MSE, a wrapped function) whose
    `update_state` is Keras' own, and for `RootMeanSquaredError` (a mean of
    squared errors, rooted in `result`), when `y_pred` carries no Keras mask,
    `update_state(y, p, sample_weight=w)` adds `sum(fn(y, p) * w)` to its
    `total` and `sum(w)` to its `count` (values of more than one axis
    averaged over the others first); `update_masked` does that with fewer
    ops. None for any other metric (it then calls `update_state`).
    """
    if _backend.get_keras_mask(y_pred) is not None:
        return None
    if type(metric) is keras.metrics.RootMeanSquaredError:
        if len(y_true.shape) != len(y_pred.shape):
            return None  # Keras squeezes or expands one first
        return lambda y_true, y_pred: keras.ops.square(y_pred - y_true)
    if (not isinstance(metric, keras.metrics.MeanMetricWrapper)
            or type(metric).update_state is not keras.metrics.MeanMetricWrapper.update_state):
        return None
    fn, kwargs = metric._fn, metric._fn_kwargs
    return lambda y_true, y_pred: fn(y_true, y_pred, **kwargs)


def plain_mean_finish(metric):
    """How a plain mean metric turns its total and count into its result, or None.

    `"mean"` for a float32 `MeanMetricWrapper` with Keras' own `update_state`
    and `result` (`divide_no_nan(total, count)`), `"sqrt"` for a float32
    `RootMeanSquaredError` (the root of that mean); None for any other metric.
    `TaskMetricsList` keeps the state of these metrics in two shared vectors.
    """
    if keras.backend.standardize_dtype(metric.dtype) != "float32":
        return None
    if type(metric) is keras.metrics.RootMeanSquaredError:
        return "sqrt"
    if (isinstance(metric, keras.metrics.MeanMetricWrapper)
            and type(metric).update_state is keras.metrics.MeanMetricWrapper.update_state
            and type(metric).result is keras.metrics.Mean.result):
        return "mean"
    return None


def symbolic_build_hook_exists() -> bool:
    """Whether Keras' TensorFlow trainer still has the hook `MultiTaskModel` overrides."""
    return callable(getattr(_tf_trainer.TensorFlowTrainer, SYMBOLIC_BUILD_HOOK, None))
