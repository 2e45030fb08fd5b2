"""`TaskMeans` (a per-task mean for every task at once) and masked metric updates."""

from __future__ import annotations

from typing import Sequence

import keras
from keras import ops

from mtl_keras import _keras_internals as internals
from mtl_keras._keras_internals import MetricsList, mean_metric_function


@keras.saving.register_keras_serializable(package="mtl_keras")
class TaskMeans(keras.metrics.Metric):
    """Weighted means of a `(num_tasks,)` vector, reported as `<task><suffix>`.

    One metric with two vector variables instead of one `Mean` per task keeps
    the training step small. Under `tf.distribute` the sums and counts are
    aggregated over replicas like any Keras metric.

    Args:
        task_names: Task names, in the order of the vectors passed to
            `update_state`.
        suffix: Appended to each task name in `result()`, e.g. `"_loss"`.
        name: Metric name.
        sums: Optional `{key: [task names]}`: `result()` also reports, under
            each key, the sum of those tasks' means (e.g. `task_loss_sum`).

    Example:

    >>> m = TaskMeans(["a", "b"], suffix="_loss")
    >>> m.update_state([2.0, 3.0], [1.0, 0.0])   # sums, counts
    >>> m.update_state([4.0, 0.0], [2.0, 0.0])
    >>> {k: float(v) for k, v in m.result().items()}
    {'a_loss': 2.0, 'b_loss': 0.0}
    """

    def __init__(self, task_names: Sequence[str], suffix: str, name: str = "task_means",
                 sums: dict | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.task_names = list(task_names)
        self.suffix = suffix
        sums = dict(sums or {})
        for key, members in sums.items():
            unknown = sorted(set(members) - set(self.task_names))
            if unknown or not members:
                raise ValueError(
                    f"Expected the tasks summed into {key!r} to be a non-empty subset of "
                    f"{self.task_names}. Received: {list(members)}"
                )
        self.sums = {key: list(members) for key, members in sums.items()}
        n = len(self.task_names)
        self.total = self.add_variable(shape=(n,), initializer="zeros", name="total",
                                       aggregation="sum")
        self.count = self.add_variable(shape=(n,), initializer="zeros", name="count",
                                       aggregation="sum")

    def update_state(self, values, counts=None):
        """Adds `values` (already multiplied by `counts`) and `counts`.

        With `counts=None` each value counts once: a plain running mean.
        """
        values = ops.cast(values, "float32")
        if counts is None:
            counts = ops.ones_like(values)
        counts = ops.cast(counts, "float32")
        self.total.assign_add(values)
        self.count.assign_add(counts)

    def result(self):
        means = ops.unstack(ops.divide_no_nan(self.total, self.count))
        result = {f"{t}{self.suffix}": m for t, m in zip(self.task_names, means)}
        for key, members in self.sums.items():
            result[key] = ops.sum(ops.stack([means[self.task_names.index(t)]
                                             for t in members]))
        return result

    def get_config(self):
        return {"task_names": self.task_names, "suffix": self.suffix, "name": self.name,
                "sums": self.sums or None}


class _DirectionHint:
    """Name and direction of a logged value that is not a stand-alone metric."""

    def __init__(self, name, direction):
        self.name = name
        self._direction = direction


class TaskMetricsList(MetricsList):
    """Every task's metrics in one container.

    Keras' callbacks (`EarlyStopping`, `ModelCheckpoint`, ...) with
    `mode="auto"` look up a monitored metric's direction in such containers,
    so `monitor="val_species_accuracy"` or `monitor="val_species_loss"` work
    without a `mode`. The per-task losses are listed as hints only: their
    values come from the model's `TaskMeans` tracker.

    The plain mean metrics among them (accuracy, MAE, MSE, RMSE, a wrapped
    function: see `update_masked`) keep their running totals and counts in
    two vector variables of this container, one entry per metric, which
    `update_tasks` updates with one assignment each (as `TaskMeans` does for
    the per-task losses): with many tasks, a step that assigns two variables
    per metric is measurably slower (BENCHMARKS.md, "MultiTaskModel
    overhead"). Their results are read from this container (`result()`,
    the logs); the metric objects themselves keep their names and functions
    but not that state. Other metrics (AUC, precision, ...) keep their own.

    Args:
        task_metrics: One list of metrics per task, in task order.
        loss_names: Log names of the per-task losses (direction hints).
        name: The container's name.

    Example:

    >>> import numpy as np
    >>> metrics = TaskMetricsList([[keras.metrics.MeanAbsoluteError(name="a_mae")]],
    ...                           ["a_loss"])
    >>> y, p = np.array([[1.0], [5.0]]), np.array([[2.0], [0.0]])
    >>> metrics.update_tasks([(y, p, np.array([1.0, 0.0]), None)])
    >>> {k: float(v) for k, v in metrics.result().items()}   # sample 2 unlabelled
    {'a_mae': 1.0}
    """

    def __init__(self, task_metrics, loss_names, name="task_metrics"):
        groups = [list(group) for group in task_metrics]
        flat = [m for group in groups for m in group]
        super().__init__(flat, name=name)
        self._groups = groups
        self._real_metrics = flat
        self.metrics = flat + [_DirectionHint(n, "down") for n in loss_names]
        finishes = [(m, internals.plain_mean_finish(m)) for m in flat]
        shared = [(m, finish) for m, finish in finishes if finish is not None]
        # id(metric) -> (its entry in the shared vectors, "mean" or "sqrt").
        self._slots = {id(m): (i, finish) for i, (m, finish) in enumerate(shared)}
        # Shared metrics whose update turned out to need Keras' own (a Keras
        # mask on the predictions, ranks Keras must align): decided when the
        # step is traced; those read their own state.
        self._own_state = set()
        self.total = self.count = None
        if shared:
            self.total = self.add_variable(shape=(len(shared),), initializer="zeros",
                                           name="total", aggregation="sum")
            self.count = self.add_variable(shape=(len(shared),), initializer="zeros",
                                           name="count", aggregation="sum")

    def update_state(self, y_true=None, y_pred=None, sample_weight=None):
        raise NotImplementedError(
            "Update each task's metrics with its own masked labels: `update_tasks`.")

    def update_tasks(self, batches) -> None:
        """Updates every task's metrics on its labelled samples only.

        Args:
            batches: One `(y_true, y_pred, mask, count)` per task, in task
                order: the task's labels (missing ones replaced), its
                predictions, its mask (0 for an unlabelled sample, the sample
                weight otherwise) and `sum(mask)` when the caller has it
                (None: it is summed here).
        """
        if len(batches) != len(self._groups):
            raise ValueError(f"Expected one batch per task ({len(self._groups)}). "
                             f"Received: {len(batches)}")
        n = len(self._slots)
        sums, counts = [None] * n, [None] * n
        for group, (y_true, y_pred, mask, count) in zip(self._groups, batches):
            for metric in group:
                slot = self._slots.get(id(metric))
                total = None if slot is None else _masked_total(metric, y_true, y_pred, mask)
                if total is None:
                    if slot is not None:
                        self._own_state.add(id(metric))
                    update_masked(metric, y_true, y_pred, mask, count)
                    continue
                sums[slot[0]] = total
                counts[slot[0]] = ops.sum(ops.cast(mask, "float32")) if count is None \
                    else ops.cast(count, "float32")
        if any(v is not None for v in sums):
            zero = ops.zeros((), "float32")
            self.total.assign_add(ops.stack([zero if v is None else v for v in sums]))
            self.count.assign_add(ops.stack([zero if v is None else v for v in counts]))

    def reset_state(self):
        for m in self._real_metrics:
            m.reset_state()
        for v in (self.total, self.count):
            if v is not None:
                v.assign(ops.zeros(v.shape, v.dtype))

    def result(self):
        means = None
        if self._slots:
            means = ops.unstack(ops.divide_no_nan(self.total, self.count), len(self._slots))
        results = {}
        for m in self._real_metrics:
            slot = self._slots.get(id(m))
            if slot is None or id(m) in self._own_state:
                results[m.name] = m.result()
            else:
                index, finish = slot
                results[m.name] = ops.sqrt(means[index]) if finish == "sqrt" else means[index]
        return results


def _masked_total(metric, y_true, y_pred, mask):
    """`sum(fn(y_true, y_pred) * mask)` for a plain mean metric, or None (see `update_masked`)."""
    y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
    fn = mean_metric_function(metric, y_true, y_pred)
    if fn is None:
        return None
    values = ops.cast(fn(y_true, y_pred), metric.dtype)
    if len(values.shape) > 1:
        values = ops.mean(values, axis=tuple(range(1, len(values.shape))))
    return ops.sum(values * ops.cast(mask, metric.dtype))


def update_masked(metric: keras.metrics.Metric, y_true, y_pred, mask, count=None) -> None:
    """`metric.update_state(y_true, y_pred, sample_weight=mask)`, with fewer ops when it can.

    A task's metrics count only its labelled samples (`mask` is 0 for the
    others, their sample weight otherwise). For a plain mean metric
    (`keras.metrics.MeanMetricWrapper`: accuracy, MAE, MSE, a wrapped
    function; and RMSE, a mean of squared errors) the update is done
    directly: its per-sample values, averaged
    over any trailing axes, times `mask` are added to its total and `count`
    (`sum(mask)`, which the caller may pass when it has it) to its count,
    the same state Keras' own `update_state` reaches in about half the ops,
    which matters with many tasks. Any other metric (AUC, precision, ...)
    gets its own `update_state`.

    Example:

    >>> import numpy as np
    >>> m = keras.metrics.MeanAbsoluteError()
    >>> update_masked(m, np.array([[1.0], [5.0]]), np.array([[2.0], [0.0]]),
    ...               mask=np.array([1.0, 0.0]))
    >>> float(m.result())   # the second sample is unlabelled
    1.0
    """
    total = _masked_total(metric, y_true, y_pred, mask)
    if total is None:
        metric.update_state(y_true, y_pred, sample_weight=mask)
        return
    mask = ops.cast(mask, metric.dtype)
    metric.total.assign_add(total)
    metric.count.assign_add(ops.sum(mask) if count is None else ops.cast(count, metric.dtype))


__all__ = [
    "TaskMeans",
    "TaskMetricsList",
    "update_masked",
]
