"""The metrics of a task: defaults per kind, construction by name, direction.

`Task.make_metrics` builds each task's metrics here, named `<task>_<metric>`;
`direction` tells how a metric improves (tuning objectives, reports,
callbacks with `mode="auto"`).
"""

from __future__ import annotations

import keras

DEFAULT_METRICS = {
    "binary": ("accuracy", "auc"),
    "multiclass": ("accuracy",),
    "multilabel": ("accuracy", "auc"),
    "regression": ("mae", "rmse"),
}
# Direction of improvement of the metrics we know by name; used by tuning
# objectives and by reports. Anything ending in "loss" or "error" is "min".
METRIC_DIRECTION = {
    "accuracy": "max",
    "auc": "max",
    "precision": "max",
    "recall": "max",
    "mae": "min",
    "mse": "min",
    "rmse": "min",
    "loss": "min",
}


def direction(metric: str) -> str:
    """`"max"` or `"min"`: how a metric's short name (e.g. `"accuracy"`) improves.

    >>> direction("auc"), direction("val_error"), direction("mae")
    ('max', 'min', 'min')
    """
    if metric in METRIC_DIRECTION:
        return METRIC_DIRECTION[metric]
    if metric.endswith(("loss", "error", "crossentropy")):
        return "min"
    return "max"


def make_metric(task, identifier) -> keras.metrics.Metric:
    """A fresh metric named `<task>_<metric>` for `task` from a name or a Metric."""
    if isinstance(identifier, keras.metrics.Metric):
        config = identifier.get_config()
        config["name"] = f"{task.name}_{identifier.name}"
        return identifier.__class__.from_config(config)
    if isinstance(identifier, dict):
        metric = keras.metrics.deserialize(identifier)
        return make_metric(task, metric)
    if not isinstance(identifier, str):
        raise TypeError(
            f"Task {task.name!r}: expected a metric name or a "
            f"`keras.metrics.Metric`. Received: {identifier!r}"
        )
    key = {"acc": "accuracy"}.get(identifier, identifier)
    name = f"{task.name}_{key}"
    classification = task.kind != "regression"
    k = task.kind
    if key == "accuracy" and classification:
        if k == "multiclass":
            return keras.metrics.SparseCategoricalAccuracy(name=name)
        return keras.metrics.BinaryAccuracy(name=name)
    if key == "auc" and classification and k != "multiclass":
        if k == "multilabel":
            return keras.metrics.AUC(
                name=name, multi_label=True, num_labels=task.output_size
            )
        return keras.metrics.AUC(name=name)
    if key in ("precision", "recall") and k == "binary":
        cls = keras.metrics.Precision if key == "precision" else keras.metrics.Recall
        return cls(name=name)
    if key in ("mae", "mse", "rmse") and not classification:
        cls = {
            "mae": keras.metrics.MeanAbsoluteError,
            "mse": keras.metrics.MeanSquaredError,
            "rmse": keras.metrics.RootMeanSquaredError,
        }[key]
        return cls(name=name)
    if key in ("accuracy", "auc", "precision", "recall", "mae", "mse", "rmse"):
        metric = None  # a known name that does not fit this kind
    else:
        try:
            metric = keras.metrics.get(identifier)
        except ValueError:
            metric = None
    if isinstance(metric, type) and issubclass(metric, keras.metrics.Metric):
        return metric(name=name)
    if isinstance(metric, keras.metrics.Metric):
        return make_metric(task, metric)
    if callable(metric):
        return keras.metrics.MeanMetricWrapper(metric, name=name)
    raise ValueError(
        f"Task {task.name!r} ({task.kind}): metric {identifier!r} is not known "
        "for this kind. Expected one of "
        f"{sorted(set(DEFAULT_METRICS[task.kind]) | known_for(task.kind))}, "
        "a Keras metric name or a `keras.metrics.Metric`."
    )


def known_for(kind: str) -> set:
    """The metric names this module builds for `kind` itself."""
    if kind == "regression":
        return {"mae", "mse", "rmse"}
    if kind == "binary":
        return {"accuracy", "auc", "precision", "recall"}
    if kind == "multilabel":
        return {"accuracy", "auc"}
    return {"accuracy"}


__all__ = [
    "DEFAULT_METRICS",
    "METRIC_DIRECTION",
    "direction",
    "known_for",
    "make_metric",
]
