"""Per-task metric keys: what a tuning objective may name, and how a key resolves.

Keys name a task and one of its metrics: `"species_accuracy"`,
`"body_mass_mae"`, `"sex_loss"`, with or without the `val_` prefix; a bare
task name (`"species"`) means that task's primary (first) metric. The
weighted total loss and the weights themselves are refused: they depend on
the loss weights being tuned.
"""

from __future__ import annotations

from typing import Sequence

from mtl_keras.tasks import Task

__all__ = ["available_metric_keys", "resolve_metric_key", "task_metric_names"]

_FORBIDDEN = ("loss", "val_loss")


def task_metric_names(task: Task) -> list[str]:
    """Short names of the metrics logged for `task` (`"accuracy"`, ..., `"loss"`)."""
    names = [m.name[len(task.name) + 1:] for m in task.make_metrics()]
    return names + ["loss"]


def available_metric_keys(tasks: Sequence[Task]) -> list[str]:
    """Every `<task>_<metric>` key an objective may name for these tasks."""
    return [f"{t.name}_{m}" for t in tasks for m in task_metric_names(t)]


def resolve_metric_key(key: str, tasks: Sequence[Task]) -> tuple[Task, str]:
    """Resolves `"species_accuracy"` / `"val_species"` / `"species"` to `(task, metric)`.

    Raises:
        ValueError: For a key naming no task or a metric the task does not log,
            or for keys that depend on the loss weights (`loss`, `<task>_weight`).
    """
    if not isinstance(key, str) or not key:
        raise ValueError(f"Expected a metric key such as 'species_accuracy'. Received: {key!r}")
    short = key[4:] if key.startswith("val_") else key
    if key in _FORBIDDEN or short in _FORBIDDEN or short.endswith("_weight") and any(
            short == f"{t.name}_weight" for t in tasks):
        raise ValueError(
            "Expected an objective that does not depend on the loss weights being "
            "tuned (a per-task validation metric). The weighted total loss and the "
            f"weights themselves do. Received: {key!r}. Expected one of "
            f"{available_metric_keys(tasks)}."
        )
    by_name = {t.name: t for t in tasks}
    if short in by_name:
        task = by_name[short]
        return task, task_metric_names(task)[0]
    for task in sorted(tasks, key=lambda t: -len(t.name)):
        if short.startswith(task.name + "_"):
            metric = short[len(task.name) + 1:]
            if metric in task_metric_names(task):
                return task, metric
    raise ValueError(
        "Expected an objective metric naming a task and one of its metrics, one of "
        f"{available_metric_keys(tasks)} (or a task name for its first metric). "
        f"Received: {key!r}"
    )
