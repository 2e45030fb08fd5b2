"""Tune the penguins loss weights with KerasTuner; compare with equal weights and other methods.

Usage:
    python examples/tune_weights.py [--trials 10] [--epochs 30] [--seeds 3] [--tuner random_search]

1. Equal weights (seed 0) give the Δm baselines: their validation scores.
2. `LossWeightTuner` searches the three weights (log-uniform in [0.1, 10],
   normalized to mean 1) for the best validation Δm over equal weights.
3. Every loss-level weighting method of `mtl_keras.weighting` is trained the
   same way; the one with the best validation Δm is "the best loss-level method".
4. Equal weights, the tuned weights and that method are retrained with
   `--seeds` seeds and compared on the test split (mean over seeds).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import mtl_keras as mtl  # noqa: E402
from mtl_keras.evaluation import delta_m  # noqa: E402
from mtl_keras.tuning import LossWeightHyperModel, LossWeightTuner  # noqa: E402


def penguins_build_fn(data, units, learning_rate):
    """`build_fn(hp, weights)`: hard sharing, an MLP, inputs normalized by the training split."""
    train = data.train.features["measurements"]
    mean, var = train.mean(axis=0), train.var(axis=0)   # computed once, not per trial

    def build_fn(hp, weights):
        norm = keras.layers.Normalization(mean=mean, variance=var,
                                          name="measurements_normalization")
        model = mtl.build_hard_sharing(data.inputs(), mtl.backbones.mlp(list(units)),
                                       data.tasks, preprocessing={"measurements": norm})
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), weighting=weights)
        return model

    return build_fn


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--tuner", default="random_search")
    parser.add_argument("--directory", default=None)
    args = parser.parse_args()

    t_start = time.perf_counter()
    data = mtl.data.load_penguins(seed=0)
    names = [t.name for t in data.tasks]
    keys = {t.name: f"{t.name}_{t.primary_metric}" for t in data.tasks}
    directions = {keys[t.name]: t.metric_direction(t.primary_metric) for t in data.tasks}
    train, val, test = (data.dataset("train", 32), data.dataset("validation", 64),
                        data.dataset("test", 64))
    build_fn = penguins_build_fn(data, units=(16,), learning_rate=0.01)

    def run(weighting, seed):
        keras.utils.set_random_seed(seed)
        model = build_fn(None, {n: 1.0 for n in names})
        model.compile(optimizer=keras.optimizers.Adam(0.01), weighting=weighting)
        model.fit(train, validation_data=val, epochs=args.epochs, verbose=0)
        return (model.evaluate(val, return_dict=True, verbose=0),
                model.evaluate(test, return_dict=True, verbose=0))

    equal_val, _ = run(None, 0)
    baselines = {keys[n]: float(equal_val[keys[n]]) for n in names}

    def val_delta(logs):
        return delta_m(logs, baselines, directions)

    # 1. The search.
    directory = args.directory or tempfile.mkdtemp(prefix="tune_weights_")
    t0 = time.perf_counter()
    hypermodel = LossWeightHyperModel(build_fn, data.tasks, objective="delta_m",
                                      baselines=baselines, seed=0)
    tuner = LossWeightTuner(hypermodel, tuner=args.tuner, max_trials=args.trials,
                            directory=directory, project_name="penguins", overwrite=True)
    tuner.search(train, validation_data=val, epochs=args.epochs, verbose=0)
    search_seconds = time.perf_counter() - t0
    tuner.summary()
    tuner.plot(os.path.join(directory, "trials.png"))
    tuned = tuner.best_weights()
    n_trials = sum(r.status == "COMPLETED" for r in tuner.results())
    print(f"\n{n_trials} trials of {args.epochs} epochs in {search_seconds:.1f}s "
          f"({args.tuner}); plot: {os.path.join(directory, 'trials.png')}")

    # 2. Loss-level methods, picked on validation.
    methods = [m for m in mtl.weighting.available()
               if m not in ("static", "equal") and not mtl.weighting.get(m).combines_gradients]
    method_scores = {}
    for m in methods:
        try:
            logs, _ = run(m, 0)
        except Exception as e:  # a method that cannot run here is reported, not hidden
            print(f"  {m}: skipped ({type(e).__name__}: {e})")
            continue
        method_scores[m] = val_delta(logs)
        print(f"  {m}: validation Δm over equal weights {method_scores[m]:+.2f}%")
    best_method = max(method_scores, key=method_scores.get) if method_scores else None

    # 3. Test comparison, mean over seeds.
    contenders = [("equal weights", None), ("tuned weights", dict(tuned))]
    if best_method:
        contenders.append((f"best loss-level: {best_method}", best_method))
    rows = []
    for label, weighting in contenders:
        tests = [run(weighting, seed)[1] for seed in range(args.seeds)]
        means = {n: float(np.mean([t[keys[n]] for t in tests])) for n in names}
        rows.append((label, means))
    equal_means = {keys[n]: v for n, v in rows[0][1].items()}
    print(f"\nTest split, mean over {args.seeds} seed(s), {args.epochs} epochs each:")
    header = "| weighting | " + " | ".join(keys[n] for n in names) + " | Δm vs equal |"
    print(header)
    print("|" + "---|" * (len(names) + 2))
    for label, means in rows:
        dm = delta_m({keys[n]: means[n] for n in names}, equal_means, directions)
        print(f"| {label} | " + " | ".join(f"{means[n]:.4f}" for n in names) + f" | {dm:+.2f}% |")
    print("\ntuned weights: " + ", ".join(f"{n}={tuned[n]:.3f}" for n in names))
    print(f"total wall time {time.perf_counter() - t_start:.1f}s")


if __name__ == "__main__":
    main()
