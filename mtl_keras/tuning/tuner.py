"""`LossWeightTuner`: search task loss weights with any KerasTuner tuner."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from typing import Any, Callable, Sequence

import keras_tuner

from mtl_keras._validators import check_int
from mtl_keras.tuning import objectives as objectives_lib
from mtl_keras.tuning.hypermodel import WEIGHT_PREFIX, LossWeightHyperModel
from mtl_keras.tuning.metric_keys import resolve_metric_key, task_metric_names
from mtl_keras.tuning.pareto import pareto_front
from mtl_keras.tuning.progress import TrialProgress

__all__ = ["LossWeightTuner", "TUNERS", "TrialResult", "get_tuner_class"]

TUNERS = {
    "random_search": keras_tuner.RandomSearch,
    "random": keras_tuner.RandomSearch,
    "bayesian": keras_tuner.BayesianOptimization,
    "bayesian_optimization": keras_tuner.BayesianOptimization,
    "hyperband": keras_tuner.Hyperband,
    "grid": keras_tuner.GridSearch,
    "grid_search": keras_tuner.GridSearch,
}


def get_tuner_class(tuner: Any) -> type:
    """Resolves `"random_search"`, `"bayesian"`, `"hyperband"`, `"grid"` or a Tuner class."""
    if isinstance(tuner, str) and tuner.lower() in TUNERS:
        return TUNERS[tuner.lower()]
    if isinstance(tuner, type) and issubclass(tuner, keras_tuner.Tuner):
        return tuner
    raise ValueError(
        f"Expected tuner to be one of {sorted(TUNERS)} or a `keras_tuner.Tuner` "
        f"subclass. Received: tuner={tuner!r}"
    )


class _ReportsTrials:
    """Mixed into the chosen KerasTuner class: passes its trial hooks on to
    `trial_progress`, and tells the hypermodel which execution of a trial it
    builds for (so that execution `i` of every trial is seeded `seed + i`)."""

    trial_progress = None

    def _build_and_fit_model(self, trial, *args, **kwargs):
        # KerasTuner's hook around one execution (`Tuner.run_trial` calls it
        # `executions_per_trial` times; AutoKeras overrides it too).
        # tests/tuning/test_executions.py fails if KerasTuner stops calling it.
        counts = self.__dict__.setdefault("_executions_run", {})
        execution = counts.get(trial.trial_id, 0)
        counts[trial.trial_id] = execution + 1
        if isinstance(self.hypermodel, LossWeightHyperModel):
            self.hypermodel.execution = execution
        try:
            return super()._build_and_fit_model(trial, *args, **kwargs)
        finally:
            if isinstance(self.hypermodel, LossWeightHyperModel):
                self.hypermodel.execution = 0

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        if self.trial_progress is not None:
            self.trial_progress.on_trial_begin(trial)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)  # The oracle scores the trial here.
        if self.trial_progress is not None:
            self.trial_progress.on_trial_end(trial)


@functools.lru_cache(maxsize=None)
def _reporting(tuner_class: type) -> type:
    """`tuner_class` with `_ReportsTrials` mixed in (still an instance of `tuner_class`)."""
    return type(tuner_class.__name__, (_ReportsTrials, tuner_class),
                {"__doc__": tuner_class.__doc__})


@dataclasses.dataclass
class TrialResult:
    """One trial of a loss-weight search.

    Attributes:
        trial_id: KerasTuner's trial id.
        status: `"COMPLETED"`, `"RUNNING"`, `"INVALID"`, `"FAILED"`, ...
        weights: `{task: loss weight}` the trial trained with.
        hyperparameters: The trial's other hyperparameter values.
        score: The objective's value at the trial's best epoch (None if none).
        metrics: `{val_<task>_<metric>: value}` at that epoch.
        on_pareto_front: Whether no other completed trial dominates it.
    """

    trial_id: str
    status: str
    weights: dict
    hyperparameters: dict
    score: float | None
    metrics: dict
    on_pareto_front: bool = False


# Arguments of `LossWeightHyperModel` that `LossWeightTuner` took before it took the
# hypermodel itself: named in the error that says where they go now.
_HYPERMODEL_ARGUMENTS = ("tasks", "objective", "baselines", "min_weight", "max_weight",
                         "sampling", "step", "fixed", "normalize", "optimizer")
_HOW = ("LossWeightTuner(LossWeightHyperModel(build_fn, tasks, objective=..., baselines=..., "
        "seed=...), tuner=..., max_trials=..., directory=...)")


class LossWeightTuner:
    """Searches task loss weights (and the user's hyperparameters) with KerasTuner.

    A thin helper in KerasTuner's shape: the `LossWeightHyperModel` holds
    what is searched and how a trial is scored (tasks, objective, search
    space); this class hands it to the chosen KerasTuner tuner with the
    objective's `keras_tuner.Objective`, and reads the trials back as
    `TrialResult`s, a Pareto front, a summary table and a plot. The
    KerasTuner tuner is `self.tuner` (an instance of the chosen class, which
    also reports each trial to `search(progress=...)`): resuming
    (`overwrite=False`, the default) and distributed search (the
    `KERASTUNER_TUNER_ID`, `KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT`
    environment variables: one chief, any number of workers) work as in
    KerasTuner.

    Args:
        hypermodel: A `LossWeightHyperModel` (build function, tasks,
            objective, search space, per-trial seed).
        tuner: `"random_search"`, `"bayesian"`, `"hyperband"`, `"grid"`, or a
            `keras_tuner.Tuner` subclass.
        max_trials: Number of trials (default 10; not used by Hyperband, which
            takes `max_epochs` in `tuner_kwargs`).
        seed: Seeds the oracle. Default: the hypermodel's `seed` (which also
            re-seeds every trial's initialization, so that trials differ only
            by their hyperparameters). With `executions_per_trial=k` each
            trial's objective is the mean over k trainings seeded `seed`,
            `seed + 1`, ..., `seed + k - 1` (see `LossWeightHyperModel`).
        directory, project_name, overwrite: KerasTuner's project settings.
        **tuner_kwargs: More arguments of the tuner class (`max_epochs`,
            `executions_per_trial`, `num_initial_points`, ...).

    Raises:
        TypeError: `hypermodel` is not a `LossWeightHyperModel`, or an
            argument of the hypermodel (`objective`, `baselines`, ...) is
            passed here: the message shows where it goes.
        ValueError: Before any trial: GridSearch without a hypermodel
            `step`; `max_trials` with Hyperband; `max_trials < 1`.

    Example:

    >>> import keras, numpy as np, mtl_keras as mtl, tempfile
    >>> tasks = [mtl.Task("a", "binary"), mtl.Task("b", "regression")]
    >>> def build(hp, weights):
    ...     return mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]), tasks)
    >>> x = np.random.rand(32, 4).astype("float32")
    >>> y = {"a": (x[:, 0] > 0.5).astype("int32"), "b": x[:, 1]}
    >>> hypermodel = LossWeightHyperModel(build, tasks, objective="b_mae", seed=0)
    >>> tuner = LossWeightTuner(hypermodel, max_trials=2, directory=tempfile.mkdtemp())
    >>> _ = tuner.search(x, y, validation_data=(x, y), epochs=1, verbose=0)
    >>> len(tuner.results()), sorted(tuner.best_weights())
    (2, ['a', 'b'])
    """

    def __init__(
        self,
        hypermodel: LossWeightHyperModel,
        tuner: Any = "random_search",
        *,
        max_trials: int | None = None,
        seed: int | None = None,
        directory: str | None = None,
        project_name: str = "loss_weights",
        overwrite: bool = False,
        **tuner_kwargs,
    ):
        if not isinstance(hypermodel, LossWeightHyperModel):
            raise TypeError(
                "Expected hypermodel to be a `mtl_keras.tuning.LossWeightHyperModel`. "
                f"Received: hypermodel={hypermodel!r}. The build function, tasks, objective "
                f"and search space are the hypermodel's arguments: {_HOW}"
            )
        misplaced = [k for k in _HYPERMODEL_ARGUMENTS if k in tuner_kwargs]
        if misplaced:
            raise TypeError(
                f"Expected {misplaced} as arguments of LossWeightHyperModel, not of "
                f"LossWeightTuner. Received: {', '.join(f'{k}=...' for k in misplaced)}. "
                f"Use {_HOW}"
            )
        self.hypermodel = hypermodel
        self.tuner_class = get_tuner_class(tuner)
        if issubclass(self.tuner_class, keras_tuner.GridSearch) and hypermodel.step is None:
            raise ValueError(
                "Expected a grid step for GridSearch: LossWeightHyperModel(..., step=2.0) "
                "(with log sampling: 0.1, 0.2, 0.4, ...). Received: step=None"
            )
        self.objective = hypermodel.objective
        seed = hypermodel.seed if seed is None else seed
        kwargs = dict(tuner_kwargs)
        if issubclass(self.tuner_class, keras_tuner.Hyperband):
            if max_trials is not None:
                raise ValueError(
                    "Hyperband sets its number of trials from max_epochs and factor. "
                    f"Expected max_trials=None. Received: max_trials={max_trials!r}"
                )
            if "max_epochs" not in kwargs:
                raise ValueError("Expected max_epochs=... for Hyperband. Received none.")
        else:
            kwargs["max_trials"] = check_int(10 if max_trials is None else max_trials,
                                             "max_trials", min_value=1)
        self.tuner = _reporting(self.tuner_class)(
            hypermodel=self.hypermodel, objective=self.objective.to_keras_tuner(),
            directory=directory, project_name=project_name, overwrite=overwrite,
            seed=seed, **kwargs,
        )

    # ------------------------------------------------------------- search
    def search(self, *fit_args, progress: Callable[[str], Any] | None = None,
               **fit_kwargs) -> "LossWeightTuner":
        """Runs the search: arguments as in `model.fit` (`validation_data` required).

        Args:
            *fit_args, **fit_kwargs: As in `model.fit`.
            progress: Optional; called with a line as each trial starts (its
                weights) and ends (its objective, the best so far, the time
                left), e.g. `print`. See `TrialProgress`.

        Raises:
            ValueError: Without `validation_data` (nothing has run yet).
        """
        if fit_kwargs.get("validation_data") is None and not fit_kwargs.get("validation_split"):
            raise ValueError(
                "Expected validation_data: tuning objectives are validation metrics "
                f"({self.objective.metric_keys}). Received: validation_data=None"
            )
        if progress is not None and not callable(progress):
            raise TypeError(f"Expected progress to be callable, e.g. print. Received: {progress!r}")
        self.tuner.trial_progress = None if progress is None else TrialProgress(self, progress)
        try:
            self.tuner.search(*fit_args, **fit_kwargs)
        finally:
            self.tuner.trial_progress = None
        return self

    # ------------------------------------------------------------ results
    def results(self) -> list[TrialResult]:
        """Every trial, in id order, with its weights and per-task validation metrics."""
        results = []
        for trial_id in sorted(self.tuner.oracle.trials):
            trial = self.tuner.oracle.trials[trial_id]
            values = dict(trial.hyperparameters.values)
            try:
                weights = self.hypermodel.weights_from_values(values)
            except ValueError:
                weights = {}
            tracked = trial.metrics.metrics
            metrics = {}
            for name in tracked:
                if name.startswith("val_") and name != "val_loss":
                    value = trial.metrics.get_last_value(name)
                    if value is not None:
                        metrics[name] = float(value)
            score = trial.score
            results.append(TrialResult(
                trial_id=trial.trial_id, status=str(trial.status), weights=weights,
                hyperparameters={k: v for k, v in values.items()
                                 if not k.startswith(WEIGHT_PREFIX)},
                score=None if score is None or not math.isfinite(score) else float(score),
                metrics=metrics,
            ))
        done = [r for r in results if r.status == "COMPLETED"]
        for i in pareto_front([r.metrics for r in done], self.front_directions()):
            done[i].on_pareto_front = True
        return results

    def front_directions(self) -> dict[str, str]:
        """`{val metric key: direction}` the Pareto front is taken over.

        The objective's metrics for a Pareto or Δm objective; otherwise each
        task's first metric.
        """
        if isinstance(self.objective, (objectives_lib.ParetoObjective, objectives_lib.DeltaM)):
            return self.objective.directions
        directions = {}
        for task in self.hypermodel.tasks:
            metric = task_metric_names(task)[0]
            directions[f"val_{task.name}_{metric}"] = task.metric_direction(metric)
        return directions

    def pareto_front(self) -> list[TrialResult]:
        """The completed trials that no other completed trial dominates."""
        return [r for r in self.results() if r.on_pareto_front]

    def best_trial(self) -> TrialResult:
        """The completed trial with the best objective value.

        Raises:
            RuntimeError: If no trial has completed.
        """
        done = [r for r in self.results() if r.status == "COMPLETED" and r.score is not None]
        if not done:
            raise RuntimeError(
                "Expected at least one completed trial. Received none: run search()."
            )
        sign = 1.0 if self.objective.direction == "max" else -1.0
        return max(done, key=lambda r: sign * r.score)

    def best_weights(self) -> dict[str, float]:
        """`{task: weight}` of the best trial."""
        return dict(self.best_trial().weights)

    def best_hyperparameters(self):
        """The `keras_tuner.HyperParameters` of the best trial."""
        return self.tuner.oracle.trials[self.best_trial().trial_id].hyperparameters

    def best_model(self):
        """The best trial's model, restored at its best epoch."""
        return self.tuner.load_model(self.tuner.oracle.trials[self.best_trial().trial_id])

    # ----------------------------------------------------------- reports
    def summary(self, print_fn: Callable[[str], Any] | None = print) -> str:
        """A table of every trial: weights, objective and every per-task metric.

        Rows on the Pareto front are marked `*`; the best weights follow.
        """
        from mtl_keras.tuning.report import summary_text

        text = summary_text(self.results(), self.hypermodel.task_names, self.objective)
        if print_fn is not None:
            print_fn(text)
        return text

    def plot(self, path: str, metrics: Sequence[str] | None = None) -> str:
        """Writes a PNG of the completed trials over 2-3 metrics, front highlighted.

        Args:
            path: Output file (`.png`).
            metrics: 2 or 3 `val_<task>_<metric>` keys; default the front's
                metrics (at most the first three).

        Returns:
            `path`.
        """
        from mtl_keras.tuning.report import plot_trials

        directions = self.front_directions()
        if metrics is not None:
            keys = [m if m.startswith("val_") else f"val_{m}" for m in metrics]
            directions = {}
            for key in keys:
                task, metric = resolve_metric_key(key, self.hypermodel.tasks)
                directions[f"val_{task.name}_{metric}"] = task.metric_direction(metric)
        else:
            directions = dict(list(directions.items())[:3])
        done = [r for r in self.results() if r.status == "COMPLETED"]
        return plot_trials(done, directions, path)

    def to_json(self, path: str | None = None) -> str:
        """The results (and best weights) as JSON; written to `path` if given."""
        try:
            best = dataclasses.asdict(self.best_trial())
        except RuntimeError:
            best = None
        text = json.dumps({
            "objective": {"name": self.objective.name, "direction": self.objective.direction},
            "best": best,
            "trials": [dataclasses.asdict(r) for r in self.results()],
        }, indent=2)
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        return text
