"""`mtl-keras tune`: search the task loss weights of the penguins model with KerasTuner.

1. Trains the model with equal weights (the reference, and by default the Δm
   baselines: its validation scores).
2. Searches the weights with the chosen KerasTuner tuner and objective, in
   `--directory/--project-name` (an interrupted search resumes unless
   `--overwrite`; for a distributed search set KerasTuner's
   `KERASTUNER_TUNER_ID`, `KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`).
   With `--executions-per-trial k` each trial's objective is the mean of k
   trainings seeded `--seed`, `--seed + 1`, ... (the same seeds for every
   trial, so trials are compared execution by execution).
3. Prints every trial, the Pareto front and the best weights, writes a PNG of
   the trials and a JSON report, then retrains the best weights from the same
   seed for the same epochs and prints their test metrics next to equal
   weights.
4. Unless `--executions 0`: trains the best weights and equal weights on
   `--executions` fresh paired seeds and keeps the best weights only if they
   beat equal weights beyond seed-to-seed noise on validation (paired
   t-test, `mtl_keras.tuning.noise`); says which weights it kept, and adds
   the check to the JSON report.
"""

from __future__ import annotations

import argparse
import os
import time

from mtl_keras.commands import _args, _common, _data, _paths

__all__ = ["add_parser", "run", "tune"]


def add_parser(subparsers):
    p = subparsers.add_parser(
        "tune", help="Search task loss weights with KerasTuner (penguins, or your own table).")
    p.add_argument("--data", default="penguins",
                   help="'penguins' (default), or a JSON/YAML run config whose data: is a data "
                        "spec (or the spec itself); it needs train, validation and test splits.")
    p.add_argument("--trials", type=_args.positive_int, default=8,
                   help="Number of trials (default 8).")
    p.add_argument("--epochs", type=_args.positive_int, default=20,
                   help="Epochs per trial, and Hyperband's max_epochs (default 20).")
    p.add_argument("--tuner", default="random_search",
                   choices=["random_search", "bayesian", "hyperband", "grid"])
    p.add_argument("--objective", default="delta_m",
                   help="delta_m (default), pareto, a metric key such as species_accuracy or "
                        "val_body_mass_mae, or weighted:species_accuracy=1,body_mass_mae=2.")
    p.add_argument("--baselines", default="equal", type=_baselines,
                   help="Δm baselines: 'equal' (the equal-weights run's validation scores, "
                        "default) or species=0.95,sex=0.8,body_mass_mae=0.3.")
    p.add_argument("--sampling", default="log", choices=["log", "uniform"])
    p.add_argument("--min-weight", type=_args.non_negative_float, default=0.1)
    p.add_argument("--max-weight", type=_args.positive_float, default=10.0)
    p.add_argument("--step", type=_args.positive_float, default=None,
                   help="Grid step (a multiplier for log sampling); required by --tuner grid.")
    p.add_argument("--normalize", default="mean", choices=["mean", "simplex", "none"])
    p.add_argument("--fix", action="append", default=[], metavar="TASK=WEIGHT",
                   type=_args.number_pairs, help="Keep a task's weight fixed (repeatable).")
    p.add_argument("--units", default="16", type=_args.positive_int_list,
                   help="Shared MLP widths, comma-separated (default 16).")
    p.add_argument("--learning-rate", type=_args.positive_float, default=0.01)
    p.add_argument("--batch-size", type=_args.positive_int, default=32)
    p.add_argument("--seed", type=_args.non_negative_int, default=0)
    p.add_argument("--directory", default="mtl_keras_runs/tune")
    p.add_argument("--project-name", default=None,
                   help="Default: penguins_weights, or table_weights for a data spec.")
    p.add_argument("--overwrite", action="store_true",
                   help="Start afresh (default: resume the project if it exists).")
    p.add_argument("--plot", default=None,
                   help="PNG path (default <directory>/<project>/trials.png).")
    p.add_argument("--executions-per-trial", type=_args.positive_int, default=1,
                   help="Trainings averaged per trial (seeds seed, seed+1, ...; default 1): "
                        "fewer trials chasing seed-to-seed noise, at k times the cost.")
    p.add_argument("--executions", type=_executions, default=3,
                   help="Paired executions (fresh seeds) on which the best weights must beat "
                        "equal weights beyond seed-to-seed noise to be kept (default 3; 0 "
                        "keeps the best trial's weights unchecked).")
    p.set_defaults(run=run)
    return p


def _baselines(text):
    """`equal` -> None (baselines from the equal-weights run), else name=number pairs."""
    return None if text == "equal" else _args.number_pairs(text)


def _executions(text):
    """0 (no noise check) or an integer >= 2 (a paired test needs two executions)."""
    value = _args.non_negative_int(text)
    if value == 1:
        raise argparse.ArgumentTypeError(
            f"expected 0 (no check) or an integer >= 2 (a paired test). Received: {text!r}")
    return value


def run(args) -> int:
    tune(args)
    return 0


def tune(args) -> dict:
    """Runs the verb; returns the results dict (also used by tests)."""
    from mtl_keras.commands._weight_search import WeightSearch
    from mtl_keras.tuning import LossWeightTuner

    fixed = {}
    for pairs in args.fix:
        fixed.update(pairs)
    objective = args.objective
    if objective.startswith("weighted:"):
        try:
            objective = _args.number_pairs(objective[len("weighted:"):])
        except argparse.ArgumentTypeError as e:
            raise ValueError(f"argument --objective (weighted:...): {e}") from None
    data_arg = _data.read_data_arg(args.data)
    project_name = args.project_name or (
        "penguins_weights" if isinstance(data_arg, str) else "table_weights")
    project = os.path.join(args.directory, project_name)
    plot_path = args.plot or os.path.join(project, "trials.png")
    _paths.check_output_dir(args.directory, "--directory")
    _paths.check_output_dir(project, "--project-name")
    _paths.check_output_file(plot_path, "--plot")
    t0 = time.perf_counter()
    if isinstance(data_arg, str):
        data = _common.load_data(data_arg, seed=args.seed)
    else:
        data = _common.load_data(*data_arg[:1], seed=args.seed, base_dir=data_arg[1])
        for split in ("validation", "test"):
            _data.require_split(data, split, "tune scores trials on validation and compares "
                                             "the weights on test")
    search = WeightSearch(data, epochs=args.epochs, seed=args.seed, units=list(args.units),
                          learning_rate=args.learning_rate, batch_size=args.batch_size,
                          executions_per_trial=args.executions_per_trial)
    space = dict(min_weight=args.min_weight, max_weight=args.max_weight, sampling=args.sampling,
                 step=args.step, fixed=fixed,
                 normalize=None if args.normalize == "none" else args.normalize)

    # Everything that can be wrong with the search is checked before any training
    # (Δm baselines from the equal-weights run are stood in for by ones).
    is_delta = isinstance(objective, str) and objective.lower() in ("delta_m", "val_delta_m")
    placeholder = {k: 1.0 for k in search.keys.values()} if is_delta else None
    search.hypermodel(objective=objective, baselines=args.baselines or placeholder, **space)
    if args.tuner == "grid" and args.step is None:
        raise ValueError("Expected --step with --tuner grid (e.g. --step 2). Received none.")

    print(f"Equal weights: training {args.epochs} epochs ...", flush=True)
    equal_val, equal_test = search.train_eval(search.equal_weights)
    baselines = args.baselines
    if is_delta and baselines is None:
        baselines = search.baselines(equal_val)
        print("Δm baselines (equal weights, validation): "
              + ", ".join(f"{k}={v:.4f}" for k, v in baselines.items()))
    extra = {"max_epochs": args.epochs} if args.tuner == "hyperband" else {
        "max_trials": args.trials}
    tuner = LossWeightTuner(
        search.hypermodel(objective=objective, baselines=baselines, **space), args.tuner,
        directory=args.directory, project_name=project_name, overwrite=args.overwrite,
        executions_per_trial=args.executions_per_trial, **extra)
    trials = "hyperband" if args.tuner == "hyperband" else args.trials
    print(f"Searching: {args.tuner}, objective {tuner.objective.name} "
          f"({tuner.objective.direction}), {trials} trials of {args.epochs} epochs"
          + (f" x {args.executions_per_trial} seeds" if args.executions_per_trial > 1 else "")
          + f" in {project}",
          flush=True)
    t_search = time.perf_counter()
    tuner.search(search.train, validation_data=search.val, epochs=args.epochs, verbose=0,
                 progress=lambda line: print(line, flush=True))
    search_seconds = time.perf_counter() - t_search
    print()
    tuner.summary()
    os.makedirs(os.path.dirname(plot_path) or ".", exist_ok=True)
    plot = tuner.plot(plot_path)
    report = os.path.join(project, "tuning_report.json")
    tuner.to_json(report)
    weights = tuner.best_weights()
    print(f"Trials plot: {plot}\nReport: {report}")
    check = None
    if args.executions:
        print(f"\nBest weights vs equal weights on {args.executions} fresh seeds ({args.epochs} "
              f"epochs each, {tuner.objective.name} on validation) ...", flush=True)
        check = search.check_noise(weights, tuner.objective, args.executions,
                                   progress=lambda line: print(line, flush=True))
        print(check.text())
        _add_noise_check(report, check)
    kept = dict(search.equal_weights) if check is not None and not check.beats else weights

    print(f"\nRetraining the best weights ({args.epochs} epochs, seed {args.seed}) ...", flush=True)
    _, tuned_test = search.train_eval(weights)
    print("\n== Test split ==")
    print(search.comparison([("equal", search.equal_weights, equal_test),
                             ("tuned", weights, tuned_test)]))
    delta_m = search.delta_m(tuned_test, equal_test)
    completed = sum(r.status == "COMPLETED" for r in tuner.results())
    print(f"Δm of tuned over equal weights on test: {delta_m:+.2f}%; {completed} trials, "
          f"search {search_seconds:.1f}s, total {time.perf_counter() - t0:.1f}s")
    print("Kept: " + ("equal weights (the best trial did not beat them beyond the noise)"
                      if kept is not weights else "the best trial's weights"
                      + ("" if check is not None else " (not checked against the noise)")))
    return {"weights": kept, "best_weights": weights, "noise_check": check, "equal": equal_test,
            "tuned": tuned_test, "delta_m_test": delta_m, "trials": completed, "plot": plot,
            "report": report, "tuner": tuner}


def _add_noise_check(report, check):
    """Adds the noise check (per-seed objectives, tests, verdict) to the JSON report."""
    import dataclasses
    import json
    import math

    with open(report, encoding="utf-8") as f:
        content = json.load(f)

    def finite(value):
        if isinstance(value, dict):
            return {k: finite(v) for k, v in value.items()}
        return None if isinstance(value, float) and not math.isfinite(value) else value

    content["noise_check"] = {
        "best": list(check.candidate), "equal": list(check.reference),
        "direction": check.direction, "alpha": check.alpha, "beats_equal_weights": check.beats,
        "improvement": finite(dataclasses.asdict(check.improvement)), "text": check.text()}
    with open(report, "w", encoding="utf-8") as f:
        json.dump(content, f, indent=2)
