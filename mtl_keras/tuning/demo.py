"""A small loss-weight search on the bundled penguins tasks (for `mtl-keras demo`)."""

from __future__ import annotations

import time
from typing import Any, Sequence

import keras


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
    import mtl_keras as mtl

    train = data.train.features["measurements"]
    mean, var = train.mean(axis=0), train.var(axis=0)

    def build_fn(hp, weights):
        norm = keras.layers.Normalization(mean=mean, variance=var,
                                          name="measurements_normalization")
        model = mtl.build_hard_sharing(data.inputs(), mtl.backbones.mlp(list(units)),
                                       data.tasks, preprocessing={"measurements": norm})
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), weighting=weights)
        return model

    return build_fn


def demo_search(data=None, epochs: int = 8, max_trials: int = 5,
                directory: str = "mtl_keras_runs/tune",
                tuner: Any = "random_search", seed: int = 0, units: Sequence[int] = (16,),
                batch_size: int = 32, overwrite: bool = True, verbose: int = 0,
                progress=None) -> dict:
    """Tunes the penguins loss weights against equal weights, and compares on test.

    1. Trains the model with equal weights; its validation scores are the Δm
       baselines, its test scores the reference.
    2. Searches the weights (objective: Δm over those baselines, so a trial
       scores > 0 when it beats equal weights on validation on average).
    3. Retrains the best weights from the same seed for the same epochs and
       evaluates on test, so the two test rows differ only by the weights.

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

    Returns:
        A dict: `weights` (tuned), `equal_weights`, `tuned` and `equal` (test
        logs), `delta_m_test` (Δm of tuned over equal on test, percent),
        `trials`, `seconds`, `summary` (the trial table) and `tuner`.

    Example:

    >>> import tempfile, mtl_keras as mtl
    >>> out = mtl.tuning.demo_search(epochs=2, max_trials=2, directory=tempfile.mkdtemp())
    >>> sorted(out["weights"])
    ['body_mass', 'sex', 'species']
    """
    import mtl_keras as mtl
    from mtl_keras.tuning import objectives as objectives_lib
    from mtl_keras.tuning.tuner import LossWeightTuner

    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"Expected epochs >= 1. Received: epochs={epochs!r}")
    if not isinstance(max_trials, int) or max_trials < 1:
        raise ValueError(f"Expected max_trials >= 1. Received: max_trials={max_trials!r}")
    t0 = time.perf_counter()
    data = mtl.data.load_penguins(seed=seed) if data is None else data
    train = data.dataset("train", batch_size)
    val = data.dataset("validation", 64)
    test = data.dataset("test", 64)
    build_fn = penguins_build_fn(data, units=units)
    names = [t.name for t in data.tasks]
    keys = {t.name: f"{t.name}_{t.primary_metric}" for t in data.tasks}

    def train_eval(weights):
        keras.utils.set_random_seed(seed)
        model = build_fn(None, weights)
        model.fit(train, validation_data=val, epochs=epochs, verbose=verbose)
        val_logs = model.evaluate(val, return_dict=True, verbose=0)
        test_logs = model.evaluate(test, return_dict=True, verbose=0)
        return val_logs, test_logs

    equal_weights = {n: 1.0 for n in names}
    equal_val, equal_test = train_eval(equal_weights)
    baselines = {keys[n]: float(equal_val[keys[n]]) for n in names}
    tuner_obj = LossWeightTuner(build_fn, data.tasks, objective="delta_m", baselines=baselines,
                                tuner=tuner, max_trials=max_trials, seed=seed,
                                directory=directory, project_name="penguins_weights",
                                overwrite=overwrite)
    tuner_obj.search(train, validation_data=val, epochs=epochs, verbose=verbose,
                     progress=progress)
    weights = tuner_obj.best_weights()
    _, tuned_test = train_eval(weights)
    delta = objectives_lib.DeltaM({keys[n]: float(equal_test[keys[n]]) for n in names})
    delta.validate(data.tasks)
    delta_m_test = delta.compute({f"val_{keys[n]}": float(tuned_test[keys[n]]) for n in names})
    return {
        "weights": weights,
        "equal_weights": equal_weights,
        "tuned": {k: float(v) for k, v in tuned_test.items()},
        "equal": {k: float(v) for k, v in equal_test.items()},
        "delta_m_test": float(delta_m_test),
        "trials": sum(r.status == "COMPLETED" for r in tuner_obj.results()),
        "seconds": time.perf_counter() - t0,
        "summary": tuner_obj.summary(print_fn=None),
        "tuner": tuner_obj,
    }


def format_comparison(result: dict, tasks) -> str:
    """The demo's table: equal vs tuned weights and their test metrics."""
    headers = ["weights"] + [t.name for t in tasks] + [
        f"test {t.name}_{t.primary_metric}" for t in tasks]
    rows = []
    for label, w, logs in (("equal", result["equal_weights"], result["equal"]),
                           ("tuned", result["weights"], result["tuned"])):
        rows.append([label] + [f"{w[t.name]:.3f}" for t in tasks]
                    + [f"{logs[f'{t.name}_{t.primary_metric}']:.4f}" for t in tasks])
    cells = [headers] + rows
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(wd) for c, wd in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * wd for wd in widths))
    lines.append(f"Δm of tuned over equal weights on test: {result['delta_m_test']:+.2f}% "
                 f"({result['trials']} trials, {result['seconds']:.1f}s)")
    return "\n".join(lines)


__all__ = ["demo_search", "format_comparison", "penguins_build_fn"]
