"""The loss-weight search of `mtl-keras demo` and `mtl-keras tune` on the bundled penguins data.

Both verbs run one procedure, `WeightSearch`:

1. train the model with equal weights: the reference, whose validation
   scores are the default Δm baselines;
2. search the weights with `LossWeightTuner` (by default against Δm over
   those baselines, so a trial scores > 0 when it beats equal weights on
   validation on average);
3. retrain the best weights from the same seed for the same epochs and
   compare both on the test split, so the two rows differ only by the
   weights (Δm of tuned over equal weights, `mtl_keras.evaluation.delta_m`).

`demo_search` is the demo's whole run with the default search; `mtl-keras
tune` drives the steps itself to print and save what the user asked for.
Imported only when a verb runs (it imports TensorFlow and KerasTuner).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import keras

from mtl_keras._tables import format_table
from mtl_keras._validators import check_int
from mtl_keras.evaluation import delta_m
from mtl_keras.tuning import LossWeightHyperModel, LossWeightTuner

__all__ = ["WeightSearch", "demo_search", "format_comparison", "penguins_build_fn",
           "table_build_fn"]


def penguins_build_fn(data, units: Sequence[int] = (16,), learning_rate: float = 0.01):
    """A `build_fn(hp, weights)` for the penguins tasks: hard sharing, small MLP.

    The input normalization uses the training split's mean and variance
    (computed once, no `adapt` per trial). The model is compiled with Adam and
    the trial's weights.

    Args:
        data: `mtl_keras.data.PenguinsData`.
        units: Widths of the shared MLP.
        learning_rate: Adam's learning rate.
    """
    train = data.train.features["measurements"]
    mean, var = train.mean(axis=0), train.var(axis=0)

    def preprocessing():
        return {"measurements": keras.layers.Normalization(
            mean=mean, variance=var, name="measurements_normalization")}

    return _hard_sharing_build_fn(data, preprocessing, units, learning_rate)


def table_build_fn(data, units: Sequence[int] = (16,), learning_rate: float = 0.01):
    """A `build_fn(hp, weights)` for a user's table (`mtl_keras.data.TableData`).

    Hard sharing, small MLP, on the raw columns: each trial gets fresh
    FeatureSpace layers whose state comes from the resolved spec (no `adapt`).
    """
    return _hard_sharing_build_fn(data, data.preprocessing, units, learning_rate)


def _hard_sharing_build_fn(data, preprocessing, units, learning_rate):
    import mtl_keras as mtl

    def build_fn(hp, weights):
        model = mtl.build_hard_sharing(data.inputs(), mtl.backbones.mlp(list(units)),
                                       data.tasks, preprocessing=preprocessing())
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), weighting=weights)
        return model

    return build_fn


class WeightSearch:
    """Equal weights, a loss-weight search and the best weights retrained.

    Args:
        data: `mtl_keras.data.PenguinsData`, or a user's table
            (`mtl_keras.data.TableData` with train, validation and test splits).
        epochs: Epochs of every training (equal weights, each trial, retraining).
        seed: Seed of every initialization and of the search.
        units: Shared MLP widths.
        learning_rate: Adam's learning rate.
        batch_size: Training batch size.
        verbose: Keras verbosity of the fits.
        executions_per_trial: Trainings averaged per trial of the search,
            seeded `seed`, ..., `seed + executions_per_trial - 1`; the noise
            check uses the seeds after those.
    """

    def __init__(self, data, *, epochs: int, seed: int = 0, units: Sequence[int] = (16,),
                 learning_rate: float = 0.01, batch_size: int = 32, verbose: int = 0,
                 executions_per_trial: int = 1):
        self.epochs = check_int(epochs, "epochs", min_value=1)
        self.seed = check_int(seed, "seed", min_value=0)
        self.executions_per_trial = check_int(executions_per_trial, "executions_per_trial",
                                              min_value=1)
        self.data = data
        self.tasks = list(data.tasks)
        self.verbose = verbose
        table = type(data).__name__ == "TableData"
        make = table_build_fn if table else penguins_build_fn
        self.build_fn = make(data, units=units, learning_rate=learning_rate)
        batch_size = check_int(batch_size, "batch_size", min_value=1)
        # A fresh dataset per training: a reshuffling dataset iterated again gives a new
        # order, so reusing one would make a retraining from the same seed another run.
        self._train = lambda: data.dataset("train", batch_size,
                                           **({"seed": seed} if table else {}))
        self.train = self._train()
        self.val = data.dataset("validation", 64)
        self.test = data.dataset("test", 64)
        #: `{task: "<task>_<primary metric>"}`, the compared metric of each task.
        self.keys = {t.name: f"{t.name}_{t.primary_metric}" for t in self.tasks}
        self.equal_weights = {t.name: 1.0 for t in self.tasks}

    def hypermodel(self, **kwargs) -> LossWeightHyperModel:
        """A `LossWeightHyperModel` over this build function, seeded with `seed`.

        Args:
            **kwargs: Its objective and search space (`objective`,
                `baselines`, `min_weight`, `fixed`, ...).
        """
        return LossWeightHyperModel(self.build_fn, self.tasks, seed=self.seed, **kwargs)

    def train_eval(self, weights, seed: int | None = None) -> tuple[dict, dict]:
        """Trains from `seed` (default: the search's) with `weights`; returns the
        validation and test logs."""
        keras.utils.set_random_seed(self.seed if seed is None else seed)
        model = self.build_fn(None, weights)
        model.fit(self._train(), validation_data=self.val, epochs=self.epochs,
                  verbose=self.verbose)
        return (model.evaluate(self.val, return_dict=True, verbose=0),
                model.evaluate(self.test, return_dict=True, verbose=0))

    def check_noise(self, weights, objective, executions: int = 3,
                    progress: Callable[[str], Any] | None = None):
        """Do `weights` beat equal weights beyond seed-to-seed noise?

        Trains `weights` and equal weights once per execution seed (`seed +
        executions_per_trial` onwards: seeds the search did not use, so the
        best trial is not re-tested where it was selected), computes `objective`
        on each run's validation logs, and tests the paired gains
        (`mtl_keras.tuning.noise.check_against_reference`).

        Args:
            weights: The tuned `{task: weight}`.
            objective: The search's validated `Objective` (`tuner.objective`).
            executions: Paired executions, at least 2.
            progress: Optional, called with a line per execution.

        Returns:
            A `NoiseCheck`: `beats` is the verdict.
        """
        from mtl_keras.tuning.noise import check_against_reference

        check_int(executions, "executions", min_value=2)
        scores = {"tuned": [], "equal": []}
        for i in range(executions):
            seed = self.seed + self.executions_per_trial + i
            for label, w in (("tuned", weights), ("equal", self.equal_weights)):
                logs, _ = self.train_eval(w, seed=seed)
                scores[label].append(
                    objective.compute({f"val_{k}": float(v) for k, v in logs.items()}))
            if progress is not None:
                progress(f"execution {i + 1}/{executions} (seed {seed}): {objective.name} "
                         f"tuned {scores['tuned'][-1]:.4f}, equal {scores['equal'][-1]:.4f}")
        return check_against_reference(scores["tuned"], scores["equal"], objective.direction)

    def baselines(self, logs) -> dict[str, float]:
        """`{key: value}` of each task's compared metric in `logs` (Δm baselines)."""
        return {key: float(logs[key]) for key in self.keys.values()}

    def delta_m(self, logs, reference_logs) -> float:
        """Δm (percent) of `logs` over `reference_logs` on each task's compared metric."""
        directions = {key: t.metric_direction(t.primary_metric)
                      for t, key in zip(self.tasks, self.keys.values())}
        return delta_m(self.baselines(logs), self.baselines(reference_logs), directions)

    def comparison(self, rows) -> str:
        """The table of `(label, weights, test logs)` rows: weights, then test metrics."""
        headers = (["weights"] + [t.name for t in self.tasks]
                   + [f"test {self.keys[t.name]}" for t in self.tasks])
        return format_table(headers, [
            [label] + [f"{weights[t.name]:.3f}" for t in self.tasks]
            + [float(logs[self.keys[t.name]]) for t in self.tasks]
            for label, weights, logs in rows])


def demo_search(data=None, epochs: int = 8, max_trials: int = 5,
                directory: str = "mtl_keras_runs/tune", tuner: Any = "random_search",
                seed: int = 0, units: Sequence[int] = (16,), batch_size: int = 32,
                overwrite: bool = True, verbose: int = 0,
                progress: Callable[[str], Any] | None = None, executions: int = 3) -> dict:
    """Tunes the penguins loss weights against equal weights, and compares on test.

    The `WeightSearch` steps with the default search: random search of the
    three weights, Δm over the equal-weights validation scores. The best
    trial's weights are kept only if they beat equal weights beyond
    seed-to-seed noise on `executions` fresh paired seeds
    (`WeightSearch.check_noise`); otherwise equal weights are kept.

    Args:
        data: `PenguinsData` (default `load_penguins(seed)`).
        epochs: Epochs per trial (and for both final models).
        max_trials: Number of trials.
        directory: KerasTuner project directory.
        tuner: Tuner name or class.
        seed: Seed of the data split, of initializations and of the oracle.
        units: Shared MLP widths.
        batch_size: Batch size.
        overwrite: Start a new search (True) or resume one (False).
        verbose: Keras verbosity of the fits.
        progress: Optional, called with a line per trial start and end (e.g.
            `print`); see `LossWeightTuner.search`.
        executions: Paired executions of the noise check (>= 2), or 0 to keep
            the best trial's weights unchecked.

    Returns:
        A dict: `weights` (kept: the best trial's, or equal weights),
        `best_weights` (the best trial's), `kept_equal`, `noise_check` (a
        `NoiseCheck`, None without a check), `equal_weights`, `tuned` and
        `equal` (test logs of the best trial's and of equal weights),
        `delta_m_test` (Δm of tuned over equal on test, percent), `trials`,
        `seconds`, `summary` (the trial table) and `tuner`.

    Raises:
        ValueError: `epochs` or `max_trials` below 1, or `executions` 1 or
            negative (before any training).
    """
    import mtl_keras as mtl

    check_int(epochs, "epochs", min_value=1)
    check_int(max_trials, "max_trials", min_value=1)
    if check_int(executions, "executions", min_value=0) == 1:
        raise ValueError("Expected executions to be 0 (no noise check) or >= 2 (a paired test). "
                         "Received: executions=1")
    t0 = time.perf_counter()
    data = mtl.data.load_penguins(seed=seed) if data is None else data
    search = WeightSearch(data, epochs=epochs, seed=seed, units=units, batch_size=batch_size,
                          verbose=verbose)
    equal_val, equal_test = search.train_eval(search.equal_weights)
    hypermodel = search.hypermodel(objective="delta_m", baselines=search.baselines(equal_val))
    weight_tuner = LossWeightTuner(hypermodel, tuner, max_trials=max_trials, directory=directory,
                                   project_name="penguins_weights", overwrite=overwrite)
    weight_tuner.search(search.train, validation_data=search.val, epochs=epochs,
                        verbose=verbose, progress=progress)
    best = weight_tuner.best_weights()
    check = (search.check_noise(best, weight_tuner.objective, executions, progress)
             if executions else None)
    kept_equal = check is not None and not check.beats
    _, tuned_test = search.train_eval(best)
    return {
        "weights": dict(search.equal_weights) if kept_equal else best,
        "best_weights": best,
        "kept_equal": kept_equal,
        "noise_check": check,
        "equal_weights": search.equal_weights,
        "tuned": {k: float(v) for k, v in tuned_test.items()},
        "equal": {k: float(v) for k, v in equal_test.items()},
        "delta_m_test": search.delta_m(tuned_test, equal_test),
        "trials": sum(r.status == "COMPLETED" for r in weight_tuner.results()),
        "seconds": time.perf_counter() - t0,
        "summary": weight_tuner.summary(print_fn=None),
        "tuner": weight_tuner,
        "search": search,
    }


def format_comparison(result: dict) -> str:
    """The demo's table (equal vs tuned weights and their test metrics) and its Δm line."""
    table = result["search"].comparison([("equal", result["equal_weights"], result["equal"]),
                                         ("tuned", result["best_weights"], result["tuned"])])
    lines = [table, f"Δm of tuned over equal weights on test: {result['delta_m_test']:+.2f}% "
                    f"({result['trials']} trials, {result['seconds']:.1f}s)"]
    check = result.get("noise_check")
    if check is not None:
        lines.append(f"On validation, fresh seeds: {check.text()}")
    return "\n".join(lines)
