"""Δm: the multi-task literature's one-number summary over per-task metrics.

Maninis, Radosavovic & Kokkinos, "Attentive Single-Tasking of Multiple
Tasks", CVPR 2019; Vandenhende, Georgoulis, Van Gansbeke, Proesmans, Dai &
Van Gool, "Multi-Task Learning for Dense Prediction Tasks: A Survey", TPAMI
2021:

    Δm = 100 / K * sum_k (-1)^{l_k} (M_k - B_k) / B_k

over K task metrics `M_k` and their baselines `B_k` (usually single-task
models), with `l_k = 1` when lower is better (loss, MAE) and 0 when higher is
(accuracy). Δm > 0 means better than the baselines on average, in percent.

Auxiliary tasks (`Task(..., auxiliary=True)`) are trained only to help the
others: given the model's tasks, `delta_m` leaves their metrics out.
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from mtl_keras._validators import check_choice

if TYPE_CHECKING:  # Task imports Keras; delta_m itself does not need it.
    from mtl_keras.tasks import Task

__all__ = ["delta_m"]

DIRECTIONS = ("max", "min")


def delta_m(values: Sequence[float] | Mapping[str, float],
            baselines: Sequence[float] | Mapping[str, float],
            directions: str | Sequence[str] | Mapping[str, str],
            tasks: Sequence[Task] | None = None) -> float:
    """Δm in percent: the mean signed relative change of `values` over `baselines`.

    `values`, `baselines` and `directions` are either aligned sequences (one
    entry per task metric) or mappings keyed by the same names (the keys of
    `directions` if it is a mapping, else those of `values`; other keys are
    ignored). A single `"max"` / `"min"` applies to every metric.

    Args:
        values: The metrics `M_k` of the model assessed. A non-finite value
            gives a non-finite Δm (a diverged run), not an error.
        baselines: The baselines `B_k`: finite and non-zero.
        directions: `"max"` where higher is better, `"min"` where lower is.
        tasks: Optional `Task`s of the model. Then the metrics are named
            (mappings), each name is resolved to its task (`"<task>_<metric>"`
            or `"<task>"`, `val_` prefix optional), and the metrics of
            auxiliary tasks are left out: Δm is over the main tasks.

    Returns:
        `100 / K * sum_k s_k (M_k - B_k) / B_k`, `s_k = +1` for `"max"` and
        `-1` for `"min"`.

    Raises:
        ValueError: No metric, sequences of different lengths, a key
            missing from `values` or `baselines`, a direction other than
            `"max"` / `"min"`, a value that is not a number, or a zero or
            non-finite baseline. With `tasks`: metrics given as sequences,
            a name that matches no task, or only auxiliary tasks' metrics.

    Example:

    >>> # accuracy 0.88 vs 0.80: +10 %; MAE 0.6 vs 0.5: 20 % worse. (10 - 20) / 2:
    >>> round(delta_m([0.88, 0.6], [0.8, 0.5], ["max", "min"]), 6)
    -5.0
    >>> round(delta_m({"left": 72.0, "right": 66.0}, {"left": 80.0, "right": 60.0}, "max"), 6)
    0.0
    >>> import mtl_keras as mtl
    >>> tasks = [mtl.Task("left", "binary"), mtl.Task("right", "binary", auxiliary=True)]
    >>> # Only the main task "left" counts: (72 - 80) / 80 = -10 %.
    >>> round(delta_m({"left": 72.0, "right": 66.0}, {"left": 80.0, "right": 60.0}, "max",
    ...               tasks=tasks), 6)
    -10.0
    """
    named = any(isinstance(a, Mapping) for a in (values, baselines, directions))
    keys, values, baselines, directions = _aligned(values, baselines, directions)
    if tasks is not None:
        if not named:
            raise ValueError(
                "Expected values, baselines and directions keyed by metric name (e.g. "
                "{'species_accuracy': ...}) when tasks are given, to tell which task each "
                "metric belongs to. Received: sequences")
        keys, values, baselines, directions = _main_only(
            keys, values, baselines, directions, tasks)
    if not keys:
        raise ValueError("Expected at least one metric for Δm. Received: no values.")
    total = 0.0
    for key, value, base, direction in zip(keys, values, baselines, directions):
        check_choice(direction, f"the direction of {key}", DIRECTIONS)
        if not (_is_real(base) and math.isfinite(base) and base != 0):
            raise ValueError(
                f"Expected finite non-zero baselines (Δm divides by them). Received: the "
                f"baseline of {key} = {base!r}")
        if not _is_real(value):
            raise ValueError(f"Expected {key} to be a number. Received: {value!r}")
        sign = 1.0 if direction == "max" else -1.0
        total += sign * (float(value) - float(base)) / float(base)
    return 100.0 * total / len(keys)


def _task_of(key: str, tasks: Sequence[Task]) -> Task | None:
    """The task a metric name belongs to: `<task>` or `<task>_<metric>`, `val_` optional."""
    for name in (key[4:], key) if key.startswith("val_") else (key,):
        # The longest task name first: "body" must not claim "body_mass_mae".
        for task in sorted(tasks, key=lambda t: -len(t.name)):
            if name == task.name or name.startswith(task.name + "_"):
                return task
    return None


def _main_only(keys, values, baselines, directions, tasks):
    """The aligned lists without the metrics of auxiliary tasks."""
    from mtl_keras.tasks import Task

    tasks = list(tasks)
    if not all(isinstance(t, Task) for t in tasks):
        raise ValueError(
            f"Expected tasks to be `mtl_keras.Task`s. Received: tasks={tasks!r}")
    owners = [_task_of(k, tasks) for k in keys]
    unknown = [k for k, t in zip(keys, owners) if t is None]
    if unknown:
        raise ValueError(
            f"Expected metric names starting with a task name {[t.name for t in tasks]}. "
            f"Received: {unknown}")
    keep = [not t.auxiliary for t in owners]
    if keys and not any(keep):
        raise ValueError(
            "Expected at least one metric of a main (not auxiliary) task for Δm. "
            f"Received: only metrics of auxiliary tasks: {keys}")
    return tuple([x for x, k in zip(column, keep) if k]
                 for column in (keys, values, baselines, directions))


def _is_real(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _aligned(values, baselines, directions):
    """`(names, values, baselines, directions)` as aligned lists."""
    if any(isinstance(a, Mapping) for a in (values, baselines, directions)):
        keys = list(next(a for a in (directions, values, baselines) if isinstance(a, Mapping)))
        for what, given in (("values", values), ("baselines", baselines)):
            if not isinstance(given, Mapping):
                raise ValueError(
                    f"Expected {what} to be a mapping keyed like directions or values "
                    f"({keys}). Received: {what}={given!r}")
            missing = [k for k in keys if k not in given]
            if missing:
                raise ValueError(
                    f"Expected {what} for every metric {keys}. Received: {what} without "
                    f"{missing}")
        if isinstance(directions, str):
            directions = {k: directions for k in keys}
        elif not isinstance(directions, Mapping):
            raise ValueError(
                "Expected directions to be 'max', 'min' or a mapping keyed like values "
                f"({keys}). Received: directions={directions!r}")
        return (keys, [values[k] for k in keys], [baselines[k] for k in keys],
                [directions[k] for k in keys])
    values, baselines = list(values), list(baselines)
    directions = [directions] * len(values) if isinstance(directions, str) else list(directions)
    if not len(values) == len(baselines) == len(directions):
        raise ValueError(
            "Expected as many baselines and directions as values. Received: "
            f"{len(values)} values, {len(baselines)} baselines, {len(directions)} directions")
    return [f"metric {i}" for i in range(len(values))], values, baselines, directions
