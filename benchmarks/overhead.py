"""Training-step overhead of `MultiTaskModel.fit` over a plain Keras multi-output model.

Both models have the same layers (an MLP trunk and one dense head per task),
the same optimizer, the same per-task losses and metrics and the same
`tf.data` pipeline (fully labelled, so the plain model is a fair baseline for
the masked one). Each model's compiled Keras train function (what `fit` runs
each step) is timed on `steps` consecutive steps.

Two identical models differ in speed by a few percent for reasons that have
nothing to do with their code (where their variables and kernels landed), so
the script builds `--pairs` independent copies of each model. Each round times
every copy once, in alternating order so slow drifts of a shared machine
cancel; the round's ratio is the summed MTL time over the summed plain time,
and the figure is the median over rounds. The same statistic between the
two halves of the plain copies (an A/A comparison of identical models) is
reported as the noise floor. Copies are built alternately, MTL first in one
pair and plain first in the next: in one process, models built earlier can run
a few percent slower than those built later (measured: 1.027 A/A between the
first and second half of the plain copies when all MTL copies were built
first), so neither kind may take all the early slots.

Copy-to-copy differences persist for a process's lifetime, so `--processes`
repeats the whole measurement in fresh processes and reports the median of
their medians, with each process's figure.

    python benchmarks/overhead.py [--rounds 40] [--steps 40] [--pairs 4] [--processes 1]
                                  [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _common import environment, time_steps, write_section  # noqa: E402

from mtl_keras._tables import format_table  # noqa: E402

import mtl_keras as mtl  # noqa: E402

# Task i has kind KINDS[i % 3]: 5-class, binary, regression, 5-class, ...
KINDS = ("cls", "bin", "reg")


def make_tasks(num_tasks):
    tasks = []
    for i in range(num_tasks):
        kind = KINDS[i % 3]
        name = f"{kind}{i}"
        tasks.append(mtl.Task(name, "multiclass", num_classes=5) if kind == "cls"
                     else mtl.Task(name, "binary") if kind == "bin"
                     else mtl.Task(name, "regression"))
    return tasks


def make_data(n, features, batch, tasks):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, features)).astype("float32")
    y = {}
    for t in tasks:
        y[t.name] = (rng.integers(0, 5, n).astype("int32") if t.kind == "multiclass"
                     else rng.integers(0, 2, n).astype("int32") if t.kind == "binary"
                     else rng.normal(size=n).astype("float32"))
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch, drop_remainder=True) \
        .cache().repeat().prefetch(4)


def build_mtl(features, units, tasks):
    model = mtl.build_hard_sharing(keras.Input((features,)), mtl.backbones.mlp(units), tasks)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


def build_plain(features, units, tasks):
    """The same layers as a plain Keras multi-output model, same losses and metrics."""
    inp = keras.Input((features,))
    z = mtl.layers.MLP(units)(inp)
    outputs, losses, metrics = {}, {}, {}
    for t in tasks:
        if t.kind == "multiclass":
            outputs[t.name] = keras.layers.Dense(5, activation="softmax", name=t.name)(z)
            losses[t.name] = "sparse_categorical_crossentropy"
            metrics[t.name] = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        elif t.kind == "binary":
            outputs[t.name] = keras.layers.Dense(1, activation="sigmoid", name=t.name)(z)
            losses[t.name] = "binary_crossentropy"
            metrics[t.name] = [keras.metrics.BinaryAccuracy(name="accuracy"),
                               keras.metrics.AUC(name="auc")]
        else:
            outputs[t.name] = keras.layers.Dense(1, name=t.name)(z)
            losses[t.name] = "mean_squared_error"
            metrics[t.name] = [keras.metrics.MeanAbsoluteError(name="mae"),
                               keras.metrics.RootMeanSquaredError(name="rmse")]
    model = keras.Model(inp, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=losses, metrics=metrics)
    return model


def measure(args, num_tasks):
    """One process's measurement at `num_tasks` tasks: ratios and step times (a dict)."""
    units = [int(u) for u in args.units.split(",")]
    tasks = make_tasks(num_tasks)
    ds = make_data(args.batch * 16, args.features, args.batch, tasks)
    # Built alternately (mtl, plain, plain, mtl, mtl, plain, ...): models built
    # earlier in a process can run a few percent slower than later ones, so
    # neither kind may own the early slots. The A/A figure compares the plain
    # copies of pairs 0, 3, 4, 7, ... with those of pairs 1, 2, 5, 6, ...:
    # both groups hold copies built first and second in their pair, early
    # and late in the process.
    models = []
    for i in range(args.pairs):
        pair = [("mtl", build_mtl(args.features, units, tasks)),
                ("plain", build_plain(args.features, units, tasks))] if i % 2 == 0 else \
               [("plain", build_plain(args.features, units, tasks)),
                ("mtl", build_mtl(args.features, units, tasks))]
        models += sorted(pair)          # mtl first in every pair when timed
    assert models[0][1].count_params() == models[1][1].count_params()
    iterator = iter(ds)
    for _, m in models:  # the train step `fit` would build, then warm-up steps
        m.make_train_function()
        time_steps(m, iterator, 10)
    ratios, aa, times = [], [], {"mtl": [], "plain": []}
    for r in range(args.rounds):
        order = models if r % 2 == 0 else models[::-1]
        t = [(kind, time_steps(m, iterator, args.steps)) for kind, m in order]
        if r % 2:
            t = t[::-1]
        mtl_t = [v for kind, v in t if kind == "mtl"]
        plain_t = [v for kind, v in t if kind == "plain"]
        times["mtl"] += mtl_t
        times["plain"] += plain_t
        ratios.append(sum(mtl_t) / sum(plain_t))
        group = [i % 4 in (0, 3) for i in range(len(plain_t))]
        aa.append(sum(t for t, g in zip(plain_t, group) if g)
                  / sum(t for t, g in zip(plain_t, group) if not g))
    return {"ratio": statistics.median(ratios), "quartiles": statistics.quantiles(ratios, n=4),
            "aa": statistics.median(aa), "mtl_ms": statistics.median(times["mtl"]) * 1e3,
            "plain_ms": statistics.median(times["plain"]) * 1e3}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=40)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--pairs", type=int, default=4,
                   help="independent copies of each model (>= 2 for the A/A figure)")
    p.add_argument("--processes", type=int, default=1,
                   help="repeat the measurement in this many fresh processes, one after "
                        "the other (each builds its own copies); the figure is the median "
                        "of their medians")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--features", type=int, default=64)
    p.add_argument("--units", default="256,256")
    p.add_argument("--tasks", default="2,4,8,16",
                   help="comma-separated task counts, each measured in turn")
    p.add_argument("--out", default=None, help="Append the result section to this markdown file.")
    p.add_argument("--json", default=None, help=argparse.SUPPRESS)  # one child's result
    args = p.parse_args(argv)
    if args.processes < 1 or args.pairs < 1 or args.rounds < 1 or args.steps < 1:
        p.error("--processes, --pairs, --rounds and --steps must be at least 1")
    try:
        counts = [int(c) for c in args.tasks.split(",")]
    except ValueError:
        p.error(f"--tasks: expected comma-separated ints. Received: {args.tasks!r}")
    if not counts or min(counts) < 1:
        p.error(f"--tasks: expected task counts >= 1. Received: {args.tasks!r}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(measure(args, counts[0]), f)
        return 0
    rows, worst = [], 0.0
    for count in counts:
        if args.processes == 1:
            runs = [measure(args, count)]
        else:
            runs = [_child(args, i, count) for i in range(args.processes)]
        median = statistics.median(r["ratio"] for r in runs)
        worst = max(worst, median)
        q = runs[0]["quartiles"]
        rows.append([count, f"{statistics.median(r['mtl_ms'] for r in runs):.2f}",
                     f"{statistics.median(r['plain_ms'] for r in runs):.2f}",
                     f"**{median:.3f}**", ", ".join(f"{r['ratio']:.3f}" for r in runs),
                     f"{q[0]:.3f} - {q[2]:.3f}", ", ".join(f"{r['aa']:.3f}" for r in runs)])
        print(rows[-1], flush=True)
    report = (
        "## MultiTaskModel overhead\n\n"
        f"Command: `python benchmarks/overhead.py --rounds {args.rounds} --steps {args.steps} "
        f"--pairs {args.pairs} --processes {args.processes} --batch {args.batch} "
        f"--features {args.features} --units {args.units} --tasks {args.tasks}`\n\n"
        f"Machine: {environment()}. Task i is 5-class, binary or regression (i mod 3), "
        f"MLP trunk {args.units}, batch {args.batch}, same losses and metrics on both sides; "
        "the MultiTaskModel step includes its masking, per-task logs and batch value checks. "
        f"In each of {args.processes} fresh process(es) per task count, {args.pairs} "
        "independent copies of each model; per round, summed MTL step time over summed "
        "plain step time; median over rounds, then over processes.\n\n"
        + format_table(["tasks", "MTL step (ms)", "plain step (ms)",
                        "median ratio MTL / plain (target <= 1.05)", "ratio of each process",
                        "quartiles over rounds", "A/A noise floor"], rows, markdown=True)
        + f"\n\nRounds x steps x models per process: {args.rounds} x {args.steps} x "
        f"{2 * args.pairs} (interleaved).\n"
    )
    print(report)
    if args.out:
        write_section(args.out, "## MultiTaskModel overhead", report)
    return 0 if worst <= 1.05 else 1


def _child(args, index, num_tasks):
    """Runs one measurement in a fresh Python process and returns its dict."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "run.json")
        cmd = [sys.executable, os.path.abspath(__file__), "--rounds", str(args.rounds),
               "--steps", str(args.steps), "--pairs", str(args.pairs), "--batch",
               str(args.batch), "--features", str(args.features), "--units", args.units,
               "--tasks", str(num_tasks), "--json", path]
        subprocess.run(cmd, check=True)
        with open(path, encoding="utf-8") as f:
            run = json.load(f)
    print(f"process {index + 1}/{args.processes}: ratio {run['ratio']:.3f} "
          f"(A/A {run['aa']:.3f})", flush=True)
    return run


if __name__ == "__main__":
    sys.exit(main())
