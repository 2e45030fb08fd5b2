"""Step-time overhead of the gradient-combination methods over equal weighting.

For 2 / 4 / 8 tasks (regression heads on an MLP trunk), every gradient method
in both modes is timed against equal weighting (`weighting=None`) **in the
same run**: rounds are interleaved (equal, method, equal, method, ...), each
round times `steps` training steps of `model.fit` after a warm-up, and the
figure is the median over rounds of method time / equal-weighting time.

    python benchmarks/gradient_overhead.py [--tasks 2 4 8] [--rounds 5] [--steps 30]
        [--methods pcgrad mgda ...] [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import mtl_keras as mtl  # noqa: E402

METHODS = ["gradnorm", "mgda", "pcgrad", "graddrop", "gradvac", "imtl_g", "cagrad",
           "nash_mtl", "aligned_mtl", "upgrad"]
FEATURES, UNITS, BATCH = 32, (128, 128), 128


def make_data(num_tasks, steps):
    rng = np.random.default_rng(0)
    n = BATCH * steps
    x = rng.normal(size=(n, FEATURES)).astype("float32")
    y = {f"t{i}": rng.normal(size=n).astype("float32") for i in range(num_tasks)}
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH, drop_remainder=True).cache()


def build(num_tasks, weighting):
    tasks = [mtl.Task(f"t{i}", "regression", metrics=[]) for i in range(num_tasks)]
    model = mtl.build_hard_sharing(keras.Input((FEATURES,)), mtl.backbones.mlp(UNITS), tasks)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), weighting=weighting)
    return model


def timed_epoch(model, data):
    start = time.perf_counter()
    model.fit(data, epochs=1, verbose=0)
    return time.perf_counter() - start


def measure(num_tasks, name, mode, rounds, steps):
    data = make_data(num_tasks, steps)
    base = build(num_tasks, None)
    strategy = mtl.weighting.get(name)
    strategy.mode = mode
    model = build(num_tasks, strategy)
    for m in (base, model):  # warm-up: tracing and the data cache
        timed_epoch(m, data)
    ratios = []
    for _ in range(rounds):
        t_base = timed_epoch(base, data)
        t_method = timed_epoch(model, data)
        ratios.append(t_method / t_base)
    return statistics.median(ratios)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--out", default=None, help="Append the table to this file.")
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    header = "| method | mode | " + " | ".join(f"{t} tasks" for t in args.tasks) + " |"
    lines = [header, "|" + "---|" * (2 + len(args.tasks))]
    for name in args.methods:
        for mode in ("representation", "parameters"):
            cells = []
            for t in args.tasks:
                cells.append(f"{measure(t, name, mode, args.rounds, args.steps):.2f}")
            lines.append(f"| {name} | {mode} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    info = (f"MLP trunk {list(UNITS)} on {FEATURES} features, batch {BATCH}, Adam, "
            f"{args.steps} steps x {args.rounds} interleaved rounds (median ratio); "
            f"TF {tf.__version__}, Keras {keras.__version__}, {platform.machine()}, "
            f"{os.cpu_count()} CPU cores")
    table = "\n".join(lines)
    print(info)
    if args.out:
        with open(args.out, "a") as f:
            f.write("\n## Gradient methods overhead\n\nStep time divided by equal "
                    "weighting's, same run. " + info + ".\n\n" + table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
