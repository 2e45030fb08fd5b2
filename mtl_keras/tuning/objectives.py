"""Tuning objectives computed from per-task validation metrics.

A loss-weight search must not score a trial by the weighted total loss: that
number depends on the very weights being tuned (halving every weight halves
it). Every objective here reads only per-task validation quantities
(`val_<task>_<metric>`, including the unweighted per-task `val_<task>_loss`),
which do not depend on the weights:

* `MetricObjective`: one task's validation metric.
* `WeightedObjective`: a weighted sum of per-task metrics, each counted with
  the sign of its direction (accuracy up, MAE down).
* `DeltaM`: the mean relative improvement over per-task baselines (e.g.
  single-task scores), Maninis, Radosavovic & Kokkinos, "Attentive
  Single-Tasking of Multiple Tasks", CVPR 2019 (`mtl_keras.evaluation.delta_m`
  on one epoch's logs).
* `ParetoObjective`: reports the set of non-dominated trials over per-task
  metrics (`mtl_keras.tuning.pareto_front`); the search itself is driven by
  the signed sum.

Metric keys name a task and one of its metrics: `"species_accuracy"`,
`"body_mass_mae"`, `"sex_loss"`, with or without the `val_` prefix; a bare
task name (`"species"`) means that task's primary (first) metric (see
`mtl_keras.tuning.metric_keys`). Keys are resolved against the tasks by
`validate(tasks)`, which raises before any trial runs.

Auxiliary tasks (`Task(..., auxiliary=True)`) are trained only to help the
others, so they are never a target: `DeltaM` leaves their baselines out,
`ParetoObjective` defaults to the main tasks, and an objective that names an
auxiliary task's metric is refused.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import keras

from mtl_keras._validators import check_choice, is_number
from mtl_keras.evaluation import delta_m
from mtl_keras.tasks import Task
from mtl_keras.tuning.metric_keys import resolve_metric_key

__all__ = [
    "DeltaM",
    "MetricObjective",
    "Objective",
    "ObjectiveCallback",
    "ParetoObjective",
    "WeightedObjective",
    "get",
]

def resolve_main_metric_key(key: str, tasks: Sequence[Task]) -> tuple[Task, str]:
    """`resolve_metric_key`, refusing a metric of an auxiliary task.

    Raises:
        ValueError: As `resolve_metric_key`, and for a key naming a metric of
            an auxiliary task.
    """
    task, metric = resolve_metric_key(key, tasks)
    if task.auxiliary:
        raise ValueError(
            "Expected an objective over the main tasks "
            f"{[t.name for t in tasks if not t.auxiliary]}: an auxiliary task is "
            "trained to help them, not tuned for. Received: "
            f"{key!r}, a metric of the auxiliary task {task.name!r}")
    return task, metric


class Objective:
    """Base of the tuning objectives: a scalar from per-task validation metrics.

    Subclasses set `name` (the log key written each epoch, e.g. `"val_delta_m"`)
    and `direction`, and implement `_resolve(tasks)` and `compute(metrics)`.
    """

    name: str = "val_objective"
    direction: str = "max"

    def __init__(self):
        self._terms: list[tuple[str, str, str]] | None = None  # (task, metric, direction)

    # ------------------------------------------------------------- resolving
    def validate(self, tasks: Sequence[Task]) -> "Objective":
        """Resolves metric keys against `tasks`; raises `ValueError` if any is wrong.

        Returns:
            `self`, for chaining.
        """
        self._terms = list(self._resolve(list(tasks)))
        return self

    def _resolve(self, tasks):
        raise NotImplementedError

    @property
    def terms(self) -> list[tuple[str, str, str]]:
        """`(task, metric, direction)` of every metric read (after `validate`)."""
        if self._terms is None:
            raise ValueError(
                f"Expected `validate(tasks)` to be called before using {type(self).__name__}."
            )
        return list(self._terms)

    @property
    def metric_keys(self) -> list[str]:
        """The validation log keys read, e.g. `["val_species_accuracy", ...]`."""
        return [f"val_{t}_{m}" for t, m, _ in self.terms]

    @property
    def directions(self) -> dict[str, str]:
        """`{log key: "min"|"max"}` of the metrics read."""
        return {f"val_{t}_{m}": d for t, m, d in self.terms}

    # ----------------------------------------------------------- evaluating
    def compute(self, metrics: Mapping[str, float]) -> float:
        """The objective's value from `{log key: value}` (one epoch's logs)."""
        raise NotImplementedError

    def _values(self, metrics):
        missing = [k for k in self.metric_keys if k not in metrics]
        if missing:
            raise ValueError(
                f"Expected the validation metrics {missing} in the logs (pass "
                "`validation_data` to the search). Received keys: "
                f"{sorted(metrics)}"
            )
        return [float(metrics[k]) for k in self.metric_keys]

    def to_keras_tuner(self):
        """The `keras_tuner.Objective` the oracle optimizes."""
        import keras_tuner

        return keras_tuner.Objective(self.name, direction=self.direction)

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r}, direction={self.direction!r})"


class MetricObjective(Objective):
    """One task's validation metric, e.g. `val_species_accuracy` (max).

    Args:
        key: `"<task>_<metric>"` (`val_` prefix optional) or a task name for
            its first metric.
        direction: `"min"`, `"max"`, or None to use `Task.metric_direction`.

    Example:

    >>> import mtl_keras as mtl
    >>> obj = MetricObjective("body_mass").validate([mtl.Task("body_mass", "regression")])
    >>> obj.name, obj.direction
    ('val_body_mass_mae', 'min')
    >>> obj.compute({"val_body_mass_mae": 0.25})
    0.25
    """

    def __init__(self, key: str, direction: str | None = None):
        super().__init__()
        self.key = key
        self._direction = None if direction is None else check_choice(
            direction, "direction", ("min", "max"))
        self.name = key if key.startswith("val_") else f"val_{key}"

    def _resolve(self, tasks):
        task, metric = resolve_main_metric_key(self.key, tasks)
        self.name = f"val_{task.name}_{metric}"
        self.direction = self._direction or task.metric_direction(metric)
        return [(task.name, metric, self.direction)]

    def compute(self, metrics):
        return self._values(metrics)[0]


class WeightedObjective(Objective):
    """A weighted sum of per-task metrics counted with their directions (max).

    `score = sum_k c_k * s_k * m_k` with `s_k = +1` for a metric that improves
    upwards (accuracy, AUC) and `-1` for one that improves downwards (MAE,
    loss). The coefficients are the user's trade-off, not the loss weights.

    Args:
        coefficients: `{metric key: c_k}`, `c_k > 0`.
        name: Log key of the score.

    Example:

    >>> import mtl_keras as mtl
    >>> tasks = [mtl.Task("a", "binary"), mtl.Task("b", "regression")]
    >>> obj = WeightedObjective({"a_accuracy": 1.0, "b_mae": 2.0}).validate(tasks)
    >>> obj.compute({"val_a_accuracy": 0.9, "val_b_mae": 0.2})   # 0.9 - 2 * 0.2
    0.5
    """

    direction = "max"

    def __init__(self, coefficients: Mapping[str, float], name: str = "val_weighted_score"):
        super().__init__()
        if not isinstance(coefficients, Mapping) or not coefficients:
            raise ValueError(
                "Expected a non-empty dict {metric key: coefficient}. "
                f"Received: coefficients={coefficients!r}"
            )
        for key, c in coefficients.items():
            if not is_number(c) or c <= 0:
                raise ValueError(
                    f"Expected positive finite coefficients. Received: {key!r}: {c!r}"
                )
        self.coefficients = dict(coefficients)
        self.name = name

    def _resolve(self, tasks):
        terms = []
        for key in self.coefficients:
            task, metric = resolve_main_metric_key(key, tasks)
            terms.append((task.name, metric, task.metric_direction(metric)))
        return terms

    def compute(self, metrics):
        values = self._values(metrics)
        coefs = list(self.coefficients.values())
        return float(sum(c * (1.0 if d == "max" else -1.0) * v
                         for c, v, (_, _, d) in zip(coefs, values, self.terms)))


class DeltaM(Objective):
    """Δm: mean relative improvement over per-task baselines, in percent (max).

    `Δm = 100 / K * sum_k s_k * (M_k - B_k) / B_k`, with `s_k = +1` when the
    metric improves upwards and `-1` when it improves downwards (Maninis et
    al., CVPR 2019; the multi-task literature's usual single-number summary,
    with single-task scores as baselines). Δm > 0 means better than the
    baselines on average.

    Args:
        baselines: `{metric key: B_k}`; every main task needs at least one
            entry (a task name means its first metric). Baselines must be
            non-zero. Baselines of auxiliary tasks are left out (Δm is over
            the main tasks, as `mtl_keras.evaluation.delta_m(..., tasks=...)`).
        name: Log key of Δm.

    Example:

    >>> import mtl_keras as mtl
    >>> tasks = [mtl.Task("a", "binary"), mtl.Task("b", "regression")]
    >>> obj = DeltaM({"a_accuracy": 0.8, "b_mae": 0.5}).validate(tasks)
    >>> # accuracy +10% (0.88 vs 0.8), MAE 20% worse (0.6 vs 0.5): (10 - 20) / 2
    >>> round(obj.compute({"val_a_accuracy": 0.88, "val_b_mae": 0.6}), 6)
    -5.0
    """

    direction = "max"

    def __init__(self, baselines: Mapping[str, float], name: str = "val_delta_m"):
        super().__init__()
        if not isinstance(baselines, Mapping) or not baselines:
            raise ValueError(
                "Expected baselines as a non-empty dict {task or metric key: value} "
                "(e.g. single-task validation scores) for the delta_m objective. "
                f"Received: baselines={baselines!r}"
            )
        for key, b in baselines.items():
            if not is_number(b) or b == 0:
                raise ValueError(
                    f"Expected finite non-zero baselines (Δm divides by them). "
                    f"Received: {key!r}: {b!r}"
                )
        self.baselines = {k: float(v) for k, v in baselines.items()}
        self.name = name

    def _resolve(self, tasks):
        terms, self._baseline_values = [], []
        for key, value in self.baselines.items():
            task, metric = resolve_metric_key(key, tasks)
            if not task.auxiliary:
                terms.append((task.name, metric, task.metric_direction(metric)))
                self._baseline_values.append(value)
        covered = {t for t, _, _ in terms}
        main = [t.name for t in tasks if not t.auxiliary]
        missing = [name for name in main if name not in covered]
        if missing:
            raise ValueError(
                f"Expected a Δm baseline for every main task {main}. "
                f"Received baselines for {sorted(self.baselines)}; missing tasks: {missing}"
            )
        return terms

    def compute(self, metrics):
        return delta_m(self._values(metrics), list(self._baseline_values),
                       [d for _, _, d in self.terms])


class ParetoObjective(Objective):
    """Reports the Pareto front over per-task metrics (see `pareto_front`).

    KerasTuner's oracles need one number per trial: the search is driven by
    the unweighted signed sum of the metrics (`val_pareto_score`, max), and the
    result to read is the set of non-dominated trials
    (`LossWeightTuner.pareto_front()`). Prefer RandomSearch or GridSearch to
    spread trials along the front.

    Args:
        metrics: Metric keys of main tasks, default each main task's first
            metric.
        name: Log key of the driving score.
    """

    direction = "max"

    def __init__(self, metrics: Sequence[str] | None = None, name: str = "val_pareto_score"):
        super().__init__()
        self.metrics = None if metrics is None else list(metrics)
        if self.metrics is not None and len(self.metrics) < 2:
            raise ValueError(
                f"Expected at least two metrics for a Pareto front. Received: {metrics!r}"
            )
        self.name = name

    def _resolve(self, tasks):
        keys = self.metrics or [t.name for t in tasks if not t.auxiliary]
        terms = []
        for key in keys:
            task, metric = resolve_main_metric_key(key, tasks)
            terms.append((task.name, metric, task.metric_direction(metric)))
        if len(terms) < 2:
            raise ValueError(
                "Expected at least two main tasks or metrics for a Pareto front. "
                f"Received: {[t.name for t in tasks]} (auxiliary: "
                f"{[t.name for t in tasks if t.auxiliary]})"
            )
        return terms

    def compute(self, metrics):
        values = self._values(metrics)
        return float(sum((1.0 if d == "max" else -1.0) * v
                         for v, (_, _, d) in zip(values, self.terms)))


def get(identifier: Any, baselines: Mapping[str, float] | None = None) -> Objective:
    """Resolves an objective identifier (not yet validated against tasks).

    Args:
        identifier: An `Objective`; `"delta_m"` / `"val_delta_m"` (needs
            `baselines`); `"pareto"`; a metric key (`"species_accuracy"`,
            `"val_body_mass_mae"`, a task name); a dict `{metric key:
            coefficient}` for a `WeightedObjective`; or a
            `keras_tuner.Objective` naming a per-task metric.
        baselines: Baselines for `"delta_m"`.

    Raises:
        ValueError: `"delta_m"` without baselines, the weighted total loss.
        TypeError: Anything else.
    """
    if isinstance(identifier, Objective):
        return identifier
    if isinstance(identifier, Mapping):
        return WeightedObjective(identifier)
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in ("delta_m", "val_delta_m"):
            if not baselines:
                raise ValueError(
                    "Expected baselines {task or metric key: value} for the delta_m "
                    "objective (e.g. single-task or equal-weights validation scores). "
                    f"Received: baselines={baselines!r}"
                )
            return DeltaM(baselines)
        if key == "pareto":
            return ParetoObjective()
        return MetricObjective(identifier)
    try:
        import keras_tuner

        if isinstance(identifier, keras_tuner.Objective):
            return MetricObjective(identifier.name, direction=identifier.direction)
    except ImportError:  # pragma: no cover
        pass
    raise TypeError(
        "Expected objective to be an `mtl_keras.tuning.Objective`, 'delta_m', 'pareto', "
        "a metric key such as 'species_accuracy', a dict {metric key: coefficient} "
        f"or a `keras_tuner.Objective`. Received: {identifier!r}"
    )


class ObjectiveCallback(keras.callbacks.Callback):
    """Writes an objective's value into each epoch's logs (e.g. `val_delta_m`).

    Put it before the callbacks that read the objective (early stopping,
    KerasTuner's checkpointing and history): `LossWeightHyperModel.fit` does.

    Args:
        objective: A validated `Objective`.
    """

    def __init__(self, objective: Objective):
        super().__init__()
        self.objective = objective

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        if isinstance(self.objective, MetricObjective) and self.objective.name in logs:
            return
        logs[self.objective.name] = self.objective.compute(logs)
