"""Task specification: what one task predicts, how it is scored, how labels go missing.

A `Task` owns everything that is specific to one prediction target of a
multi-task model: its name (the key of the output dict, the label dict, the
head layer and the metric names), its kind, the size of its output, its loss
and metrics, the shape of its head and its static loss weight. The idea is the
one of TensorFlow Recommenders' tasks (a small object that owns its loss and
metrics), made serializable.

Missing labels. A sample has no label for a task when

* its regression or binary label is NaN,
* its class id (binary, multiclass) is negative (``-1`` by convention),
* any entry of its multilabel vector is negative or NaN (the whole sample is
  then unlabelled for that task), or
* the per-task sample weight passed with the batch is zero (the explicit mask:
  ``(features, labels, {task: mask})``).

Such a sample is left out of that task's loss and metrics only; the task's loss
is the weighted mean over the labelled samples, and zero for a batch in which
the task has no label at all.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import keras
from keras import ops

from mtl_keras import task_metrics
from mtl_keras._validators import check_choice, check_number

KINDS = ("binary", "multiclass", "multilabel", "regression")

_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# Every name a task may not take, in one place. Task names become layer names
# and log-key prefixes (`<task>_loss`, `<task>_weight`, `<task>_<metric>`):
# they must not be the model's own layers ("trunk", "weighting"), its own log
# entries ("loss"; "regularization" and "soft_sharing" give
# `regularization_loss` and `soft_sharing_loss`), or start with Keras'
# validation prefix (a task `val_x` would log `val_x_loss`, which is task
# `x`'s validation loss). Collisions between tasks' own keys (task `a` with a
# metric `b_loss` and task `a_b`) are checked when the model is compiled.
RESERVED_NAMES = frozenset({"loss", "trunk", "weighting", "val", "soft_sharing",
                            "regularization"})
RESERVED_PREFIXES = ("val_",)

_DEFAULT_LOSS = {
    "binary": "binary_crossentropy",
    "multiclass": "sparse_categorical_crossentropy",
    "multilabel": "binary_crossentropy",
    "regression": "mean_squared_error",
}
_OUTPUT_ACTIVATION = {
    "binary": "sigmoid",
    "multiclass": "softmax",
    "multilabel": "sigmoid",
    "regression": "linear",
}


def validate_task_name(name: Any) -> str:
    """Checks that `name` can be a dict key, a Keras layer name and a metric prefix."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(
            "Expected a task name made of letters, digits and underscores, "
            f"starting with a letter. Received: name={name!r}"
        )
    if name in RESERVED_NAMES or name.startswith(RESERVED_PREFIXES):
        raise ValueError(
            f"Expected a task name other than the reserved names "
            f"{sorted(RESERVED_NAMES)} and not starting with {list(RESERVED_PREFIXES)} "
            f"(they would collide with the model's log keys). Received: name={name!r}"
        )
    return name


def validate_tasks(tasks: Any) -> list["Task"]:
    """Checks a task list: non-empty, all `Task`, unique names and label keys."""
    if isinstance(tasks, Task):
        tasks = [tasks]
    if not isinstance(tasks, (list, tuple)) or not tasks:
        raise ValueError(
            f"Expected a non-empty list of `mtl_keras.Task`. Received: tasks={tasks!r}"
        )
    for t in tasks:
        if not isinstance(t, Task):
            raise TypeError(
                "Expected every element of `tasks` to be a `mtl_keras.Task`. "
                f"Received: {t!r} of type {type(t).__name__}"
            )
    names = [t.name for t in tasks]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(
            f"Expected unique task names. Received duplicates: {dupes} in {names}"
        )
    if all(t.auxiliary for t in tasks):
        raise ValueError(
            "Expected at least one main (not auxiliary) task. Received only auxiliary "
            f"tasks: {names}"
        )
    keys = [t.label_key for t in tasks]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise ValueError(
            f"Expected unique label keys. Received duplicates: {dupes} in {keys}"
        )
    return list(tasks)


def validate_weight(weight: Any, what: str = "weight") -> float:
    """Checks a static loss weight: a finite number >= 0 (returned as a float).

    Raises:
        ValueError: If `weight` is not a number, not finite, or negative.
    """
    return check_number(weight, what, min_value=0)


@keras.saving.register_keras_serializable(package="mtl_keras")
class Task:
    """One prediction target of a multi-task model.

    Args:
        name: Task name: letters, digits and underscores, starting with a
            letter. It names the head layer, the output and label dict keys
            and the metrics (`<name>_loss`, `<name>_<metric>`).
        kind: One of `"binary"`, `"multiclass"`, `"multilabel"`, `"regression"`.
        num_classes: Number of classes (`"multiclass"`, >= 2) or of labels
            (`"multilabel"`, >= 1). Not used by the other kinds.
        output_size: Width of a regression output (default 1). Binary is 1,
            multiclass and multilabel are `num_classes`.
        loss: A Keras loss identifier or `keras.losses.Loss`. Defaults per
            kind: binary and multilabel crossentropy, sparse categorical
            crossentropy, mean squared error. The head outputs probabilities
            (sigmoid/softmax) so losses must take probabilities.
        metrics: List of metric names (`"accuracy"`, `"auc"`, `"mae"`, `"mse"`,
            `"rmse"`, `"precision"`, `"recall"`) or `keras.metrics.Metric`
            instances. Defaults: accuracy and AUC for binary and multilabel,
            accuracy for multiclass, MAE and RMSE for regression.
        head_units: Hidden layer sizes of the task head before its output layer.
        head_activation: Activation of the head's hidden layers.
        head_dropout: Dropout rate after each hidden layer of the head.
        label_key: Key of this task's labels in the label dict (default: `name`).
        weight: Static loss weight (finite, >= 0) used by the default
            `"static"` weighting.
        auxiliary: True for a task trained only to help the others: it is
            trained and logged like any task but left out of the model's
            selection quantity `main_task_loss_sum`.

    Example:

    >>> import mtl_keras as mtl
    >>> species = mtl.Task("species", "multiclass", num_classes=3)
    >>> species.output_size
    3
    >>> [m.name for m in species.make_metrics()]
    ['species_accuracy']
    >>> mtl.Task.from_config(species.get_config()).num_classes
    3
    """

    def __init__(
        self,
        name: str,
        kind: str,
        num_classes: int | None = None,
        output_size: int | None = None,
        loss: Any = None,
        metrics: Sequence[Any] | None = None,
        head_units: Sequence[int] = (),
        head_activation: str = "relu",
        head_dropout: float = 0.0,
        label_key: str | None = None,
        weight: float = 1.0,
        auxiliary: bool = False,
    ):
        self.name = validate_task_name(name)
        self.kind = check_choice(kind, "kind", KINDS)
        self.num_classes = self._check_num_classes(kind, num_classes)
        if output_size is not None and kind != "regression":
            expected = 1 if kind == "binary" else self.num_classes
            if output_size != expected:
                raise ValueError(
                    f"Task {name!r}: output_size is fixed by kind={kind!r} "
                    f"(expected {expected}). Received: output_size={output_size!r}"
                )
        if kind == "regression":
            output_size = 1 if output_size is None else output_size
            if not isinstance(output_size, int) or output_size < 1:
                raise ValueError(
                    f"Task {name!r}: expected output_size to be an int >= 1. "
                    f"Received: output_size={output_size!r}"
                )
        self.output_size = self._output_size(kind, self.num_classes, output_size)
        self.loss = _DEFAULT_LOSS[kind] if loss is None else loss
        self._loss_fn = self._resolve_loss(self.loss)
        self.metrics = list(task_metrics.DEFAULT_METRICS[kind] if metrics is None else metrics)
        self.make_metrics()  # validates the metric identifiers now, not at fit time
        self.head_units = tuple(int(u) for u in head_units)
        if any(u < 1 for u in self.head_units):
            raise ValueError(
                f"Task {name!r}: expected positive head_units. "
                f"Received: head_units={tuple(head_units)!r}"
            )
        self.head_activation = head_activation
        if not 0.0 <= float(head_dropout) < 1.0:
            raise ValueError(
                f"Task {name!r}: expected 0 <= head_dropout < 1. "
                f"Received: head_dropout={head_dropout!r}"
            )
        self.head_dropout = float(head_dropout)
        self.label_key = name if label_key is None else label_key
        if not isinstance(self.label_key, str) or not self.label_key:
            raise ValueError(
                f"Task {name!r}: expected label_key to be a non-empty string. "
                f"Received: label_key={label_key!r}"
            )
        self.weight = validate_weight(weight, f"the weight of task {name!r}")
        if not isinstance(auxiliary, bool):
            raise TypeError(
                f"Task {name!r}: expected auxiliary to be True or False. "
                f"Received: auxiliary={auxiliary!r}"
            )
        self.auxiliary = auxiliary

    # ------------------------------------------------------------------ specs
    @staticmethod
    def _check_num_classes(kind, num_classes):
        if kind == "multiclass":
            if not isinstance(num_classes, int) or num_classes < 2:
                raise ValueError(
                    "Expected num_classes >= 2 for a multiclass task. "
                    f"Received: num_classes={num_classes!r}"
                )
        elif kind == "multilabel":
            if not isinstance(num_classes, int) or num_classes < 1:
                raise ValueError(
                    "Expected num_classes >= 1 (the number of labels) for a "
                    f"multilabel task. Received: num_classes={num_classes!r}"
                )
        elif num_classes not in (None, 2) or (kind == "regression" and num_classes):
            raise ValueError(
                f"num_classes is only used by multiclass and multilabel tasks. "
                f"Received: kind={kind!r}, num_classes={num_classes!r}"
            )
        return num_classes if kind in ("multiclass", "multilabel") else None

    @staticmethod
    def _output_size(kind, num_classes, output_size):
        if kind == "binary":
            return 1
        if kind in ("multiclass", "multilabel"):
            return num_classes
        return output_size

    @property
    def output_activation(self) -> str:
        """Activation of the head's output layer (probabilities for classification)."""
        return _OUTPUT_ACTIVATION[self.kind]

    # ------------------------------------------------------------------- loss
    def _resolve_loss(self, loss):
        if isinstance(loss, keras.losses.Loss):
            return loss.call  # unreduced values per sample
        if isinstance(loss, dict):
            return keras.losses.deserialize(loss).call
        if isinstance(loss, str):
            try:
                fn = keras.losses.get(loss)
            except ValueError:
                fn = None
            if fn is None:
                raise ValueError(
                    f"Task {self.name!r}: unknown loss. Expected a Keras loss "
                    f"name or `keras.losses.Loss`. Received: loss={loss!r}"
                )
            return fn.call if isinstance(fn, keras.losses.Loss) else fn
        raise TypeError(
            f"Task {self.name!r}: expected loss to be a string or a "
            f"`keras.losses.Loss`. Received: loss={loss!r}"
        )

    def check_label_spec(self, shape: Sequence[int | None], dtype: Any) -> None:
        """Raises if labels of `shape` (batch dimension included) and `dtype` cannot fit.

        See `mtl_keras.validation.check_label_spec`.

        Raises:
            ValueError: With the expected and received shape or dtype.
        """
        from mtl_keras import validation  # validation imports this module

        validation.check_label_spec(self, shape, dtype)

    def prepare_labels(self, y, sample_weight=None):
        """Returns `(clean_labels, mask)` for a batch of labels.

        `clean_labels` has missing entries replaced by 0 and the shape the loss
        expects; `mask` is a float32 vector `(batch,)`, 0 for an unlabelled
        sample, the sample weight (1 by default) otherwise.
        """
        y = ops.convert_to_tensor(y)
        if self.kind in ("binary", "multiclass") and len(y.shape) == 2:
            y = ops.squeeze(y, axis=-1)
        if self.kind == "regression" and len(y.shape) == 1:
            y = ops.expand_dims(y, -1)
        if self.kind == "binary":
            y = ops.expand_dims(y, -1)
        dtype = keras.backend.standardize_dtype(y.dtype)
        if self.kind != "regression" and "int" in dtype:
            # Integer class labels: -1 marks a missing label (no cast needed).
            valid = ops.greater_equal(y, 0)
            clean = ops.maximum(y, 0)
        else:
            if dtype != "float32":
                y = ops.cast(y, "float32")
            # NaN marks a missing label; for classes also any negative value
            # (`NaN >= 0` is False, so one comparison covers both).
            valid = ops.equal(y, y) if self.kind == "regression" else ops.greater_equal(y, 0.0)
            clean = ops.where(valid, y, ops.zeros_like(y))
        if len(valid.shape) == 2:
            valid = (ops.reshape(valid, (-1,)) if valid.shape[-1] == 1
                     else ops.all(valid, axis=-1))
        mask = ops.cast(valid, "float32")
        if sample_weight is not None:
            sw = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
            if len(sw.shape) == 2:
                sw = ops.squeeze(sw, axis=-1)
            mask = mask * sw
        target = "int32" if self.kind == "multiclass" else "float32"
        if keras.backend.standardize_dtype(clean.dtype) != target:
            clean = ops.cast(clean, target)
        return clean, mask

    def loss_values(self, y_clean, y_pred):
        """Per-sample loss values `(batch,)` for prepared labels."""
        values = self._loss_fn(y_clean, ops.cast(y_pred, "float32"))
        if len(values.shape) == 2:
            values = ops.mean(values, axis=-1)
        return ops.cast(values, "float32")

    # ---------------------------------------------------------------- metrics
    def make_metrics(self) -> list[keras.metrics.Metric]:
        """Fresh metric objects named `<task>_<metric>` for this task."""
        return [task_metrics.make_metric(self, m) for m in self.metrics]

    def metric_direction(self, metric: str) -> str:
        """`"max"` or `"min"`: how `metric` (e.g. `"accuracy"`) improves."""
        key = metric[len(self.name) + 1:] if metric.startswith(self.name + "_") else metric
        return task_metrics.direction(key)

    @property
    def primary_metric(self) -> str:
        """The first metric's short name (e.g. `"accuracy"`, `"mae"`)."""
        m = self.metrics[0]
        if isinstance(m, str):
            return {"acc": "accuracy"}.get(m, m)
        if isinstance(m, dict):
            return m.get("config", {}).get("name", "metric")
        return m.name

    # ---------------------------------------------------------- serialization
    def get_config(self) -> dict:
        loss = self.loss
        if not isinstance(loss, (str, dict)):
            loss = keras.losses.serialize(loss)
        metrics = [
            m if isinstance(m, (str, dict)) else keras.metrics.serialize(m)
            for m in self.metrics
        ]
        return {
            "name": self.name,
            "kind": self.kind,
            "num_classes": self.num_classes,
            "output_size": self.output_size if self.kind == "regression" else None,
            "loss": loss,
            "metrics": metrics,
            "head_units": list(self.head_units),
            "head_activation": self.head_activation,
            "head_dropout": self.head_dropout,
            "label_key": self.label_key,
            "weight": self.weight,
            "auxiliary": self.auxiliary,
        }

    @classmethod
    def from_config(cls, config: dict) -> "Task":
        return cls(**config)

    def __repr__(self):
        extra = f", num_classes={self.num_classes}" if self.num_classes else ""
        return f"Task({self.name!r}, {self.kind!r}{extra})"

    def __eq__(self, other):
        return isinstance(other, Task) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash((self.name, self.kind))


__all__ = [
    "KINDS",
    "RESERVED_NAMES",
    "RESERVED_PREFIXES",
    "Task",
    "validate_task_name",
    "validate_tasks",
    "validate_weight",
]
