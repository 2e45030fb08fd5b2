"""`TaskMeans`: one metric that tracks a per-task mean for every task at once."""

from __future__ import annotations

from typing import Sequence

import keras
from keras import ops

from mtl_keras._keras_internals import MetricsList


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
    """

    def __init__(self, task_metrics, loss_names, name="task_metrics"):
        flat = [m for group in task_metrics for m in group]
        super().__init__(flat, name=name)
        self._real_metrics = flat
        self.metrics = flat + [_DirectionHint(n, "down") for n in loss_names]

    def update_state(self, y_true=None, y_pred=None, sample_weight=None):
        raise NotImplementedError("Update each task's metrics with its own masked labels.")

    def reset_state(self):
        for m in self._real_metrics:
            m.reset_state()

    def result(self):
        return {m.name: m.result() for m in self._real_metrics}


__all__ = [
    "TaskMeans",
    "TaskMetricsList",
]
