"""What one training or evaluation step of a `MultiTaskModel` records.

`StepLosses` holds a batch's masked per-task losses and regularization terms,
computed once per step by `MultiTaskModel.step_losses`; `StepTrackers` owns
the metrics that turn them into logs (`<task>_loss`, `<task>_weight`,
`<task>_<metric>`, `regularization_loss`, named penalties). Loss-level and
gradient-level weighting methods go through the same two objects, so their
logs mean the same thing.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import keras
from keras import ops

from mtl_keras import _keras_internals as internals
from mtl_keras import validation
from mtl_keras.metrics import TaskMeans, TaskMetricsList
from mtl_keras.tasks import Task


class StepLosses(NamedTuple):
    """A batch's masked per-task losses and regularization terms.

    Attributes:
        sums: `(num_tasks,)` float32, this replica's sum over its labelled
            samples of each task's (sample-weighted) loss.
        counts: `(num_tasks,)` float32, this replica's (weighted) number of
            labelled samples per task.
        local: `(num_tasks,)` float32, this replica's share of each task's
            masked mean loss: summed over replicas it is the mean over the
            global batch; 0 for a task without labels. Differentiable.
        present: `(num_tasks,)` float32, 1.0 where the task has at least one
            label in the global batch.
        regularization: The float32 sum of the model's regularization losses
            and penalties, scaled for distribution, or None when there are none.
        penalties: One value per `PenaltyLayer` of the model (in the order of
            its log entries), None where the layer adds no penalty.
        labels: Each task's `(clean_labels, mask)` as `Task.prepare_labels`
            returned them, which the task's metrics read too.
    """

    sums: object
    counts: object
    local: object
    present: object
    regularization: object
    penalties: list
    labels: tuple = ()


class StepTrackers:
    """The metrics that log a `MultiTaskModel`'s steps.

    Built at `compile` from the tasks and the names of the model's penalty
    logs; `record` is the one update of the per-task loss and weight logs,
    `update_task_metrics` of the tasks' own metrics.

    Args:
        tasks: The model's tasks.
        penalty_names: Log names of the model's `PenaltyLayer`s.
        has_regularization: Whether the model has regularization losses at
            compile time (losses added in `call` are found at the first step).
    """

    def __init__(self, tasks: Sequence[Task], penalty_names: Sequence[str],
                 has_regularization: bool):
        names = [t.name for t in tasks]
        self.tasks = tuple(tasks)
        # The unweighted selection quantities: each task's mean loss over the
        # epoch's labelled samples, summed (main tasks only, when some are
        # auxiliary). Unlike `loss`, they do not depend on the weighting.
        main = [t.name for t in tasks if not t.auxiliary]
        sums = {"task_loss_sum": names}
        if len(main) < len(names):
            sums["main_task_loss_sum"] = main
        self.task_metrics = [t.make_metrics() for t in tasks]
        self.task_metric_list = TaskMetricsList(
            self.task_metrics, [f"{n}_loss" for n in names] + list(sums))
        self.task_losses = TaskMeans(names, "_loss", name="task_losses", sums=sums)
        self.task_weights = TaskMeans(names, "_weight", name="task_weights")
        self.regularization = keras.metrics.Mean(name="regularization_loss")
        self.penalties = [keras.metrics.Mean(name=name) for name in penalty_names]
        self.has_regularization = has_regularization
        validation.check_log_keys(
            ["loss", "regularization_loss"] + list(penalty_names) + list(sums)
            + [f"{n}{suffix}" for n in names for suffix in ("_loss", "_weight")]
            + [m.name for metrics in self.task_metrics for m in metrics]
        )

    @property
    def metrics(self) -> list:
        """The trackers, in log order (the regularization log once there is one)."""
        metrics = [self.task_losses, self.task_metric_list, self.task_weights]
        if self.has_regularization:
            metrics.append(self.regularization)
        return metrics + self.penalties

    @property
    def weight_log_keys(self) -> set:
        """Log keys of the task weights (a training quantity only)."""
        return set(self.task_weights.result())

    def record(self, losses: StepLosses, weights=None) -> None:
        """Logs a step's per-task losses, regularization, penalties and (training) weights."""
        self.task_losses.update_state(losses.sums, losses.counts)
        if weights is not None:
            self.task_weights.update_state(ops.cast(weights, "float32"))
        if losses.regularization is not None:
            self.has_regularization = True
            self.regularization.update_state(
                internals.unscale_loss_for_distribution(losses.regularization))
        for mean, value in zip(self.penalties, losses.penalties):
            if value is not None:
                mean.update_state(value)

    def update_task_metrics(self, labels: dict, y_pred: dict, sample_weight=None,
                            losses: StepLosses | None = None) -> None:
        """Updates every task's metrics on its labelled samples only.

        With the step's `losses` the metrics read the labels and masks (and
        counts) the losses were computed from, instead of preparing them again.
        """
        if losses is not None and losses.labels:
            prepared, counts = losses.labels, ops.unstack(losses.counts, len(self.tasks))
        else:
            prepared = [task.prepare_labels(labels[task.label_key],
                                            task_sample_weight(sample_weight, task))
                        for task in self.tasks]
            counts = [None] * len(self.tasks)  # each mask is summed
        batches = []
        for task, (clean, mask), count in zip(self.tasks, prepared, counts):
            pred = y_pred[task.name]
            if task.kind == "binary":
                clean = ops.cast(clean, pred.dtype)
            batches.append((clean, pred, mask, count))
        self.task_metric_list.update_tasks(batches)


def task_sample_weight(sample_weight, task: Task):
    """The sample weights of `task`: its entry of a per-task dict, or the shared ones."""
    if isinstance(sample_weight, dict):
        return sample_weight.get(task.name)
    return sample_weight


__all__ = [
    "StepLosses",
    "StepTrackers",
    "task_sample_weight",
]
