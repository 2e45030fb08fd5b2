"""Train the penguin tasks with each loss-level weighting method and compare test metrics.

Usage:
    python examples/compare_weighting.py [--epochs 60] [--seeds 3] [--plot-dir DIR]

Every method trains the same hard-sharing MLP (two layers of 16 units, Adam
1e-2) on the training split and is evaluated on the test split. The table
lists, per method, species and sex accuracy (higher is better) and body-mass
MAE in kg (lower is better), means over `--seeds` seeds, and the task weights
of the last epoch (seed 0). With `--plot-dir`, each method's weights and
per-task losses over training are drawn to `<dir>/<method>.png`.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import mtl_keras as mtl  # noqa: E402

METHODS = ["static", "uncertainty", "dwa", "rlw", "gls", "famo", "dbmtl"]


def run(method, data, epochs, seed, plot_dir=None):
    keras.utils.set_random_seed(seed)
    model = mtl.build_hard_sharing(data.inputs(), mtl.backbones.mlp([16, 16]), data.tasks,
                                   preprocessing=data.preprocessing())
    model.compile(optimizer=keras.optimizers.Adam(1e-2), weighting=method)
    history = model.fit(data.dataset("train", shuffle=True), epochs=epochs,
                        validation_data=data.dataset("validation"), verbose=0)
    if plot_dir:
        mtl.plotting.plot_training(history, os.path.join(plot_dir, f"{method}.png"),
                                   title=method)
    logs = model.evaluate(data.dataset("test"), verbose=0, return_dict=True)
    weights = {t.name: history.history[f"{t.name}_weight"][-1] for t in data.tasks}
    return {"species": logs["species_accuracy"], "sex": logs["sex_accuracy"],
            "body_mass": logs["body_mass_mae"], "weights": weights}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--plot-dir", default=None)
    args = parser.parse_args(argv)
    if args.plot_dir:
        os.makedirs(args.plot_dir, exist_ok=True)
    data = mtl.data.load_penguins(seed=0)
    print("| method | species acc. | sex acc. | body mass MAE (kg) | last weights "
          "(species / sex / body mass) |")
    print("|---|---:|---:|---:|---|")
    for method in args.methods:
        runs = [run(method, data, args.epochs, seed, args.plot_dir if seed == 0 else None)
                for seed in range(args.seeds)]
        mean = {k: float(np.mean([r[k] for r in runs])) for k in ("species", "sex", "body_mass")}
        w = runs[0]["weights"]
        print(f"| {method} | {mean['species']:.3f} | {mean['sex']:.3f} | "
              f"{mean['body_mass']:.3f} | {w['species']:.2f} / {w['sex']:.2f} / "
              f"{w['body_mass']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
