"""Training-time overhead of the `TaskAffinity` and `GradientConflict` callbacks.

One model per configuration (hard sharing, an MLP trunk of each `--units`
size on `FEATURES` features, `--tasks` tasks alternating regression and
binary, Adam, batch `BATCH`), compiled, with the probe callback attached exactly as `fit`
attaches it (`set_model`, `on_train_begin`, then `on_train_batch_begin`
before each step). Each round times `--steps` steps of the model's plain
train function and `--steps` steps through the callback (interleaved,
alternating which goes first), *on the same model*, so copy-to-copy speed
differences cannot enter the ratio; the figure is the median over rounds of
probed time over plain time. `--steps` is a multiple of every measuring
interval, so each timed window holds the same number of measured steps.
Tracing is excluded (warm-up steps first). The A/A line times the plain
function against itself.

    python benchmarks/affinity_overhead.py [--tasks 4] [--units 128,128 512,512]
        [--rounds 150] [--steps 20] [--write BENCHMARKS.md]

Short windows, many rounds: on a shared machine a burst of other work
lands in few windows, and the median over rounds discards it.

`--write` replaces (or appends at the end) the `## Task affinity overhead`
section of that file.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _common import environment, write_section  # noqa: E402

import mtl_keras as mtl  # noqa: E402
from mtl_keras._tables import format_table  # noqa: E402

FEATURES, BATCH = 32, 128
SECTION = "## Task affinity overhead"


def make_tasks(num_tasks):
    return [mtl.Task(f"t{i}", "regression" if i % 2 == 0 else "binary", metrics=[])
            for i in range(num_tasks)]


def make_data(num_tasks):
    rng = np.random.default_rng(0)
    n = BATCH * 8
    x = rng.normal(size=(n, FEATURES)).astype("float32")
    y = {f"t{i}": (rng.normal(size=n).astype("float32") if i % 2 == 0
                   else rng.integers(0, 2, n).astype("int32")) for i in range(num_tasks)}
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH).cache().repeat()


def configurations():
    """(label, callback factory) of every measured configuration."""
    return [
        ("TaskAffinity, every 10 steps", lambda: mtl.affinity.TaskAffinity(every_n_steps=10)),
        ("TaskAffinity, every step", lambda: mtl.affinity.TaskAffinity(every_n_steps=1)),
        ("GradientConflict (representation), every step",
         lambda: mtl.affinity.GradientConflict(every_n_steps=1, mode="representation")),
        ("GradientConflict (parameters), every step",
         lambda: mtl.affinity.GradientConflict(every_n_steps=1, mode="parameters")),
    ]


def build(num_tasks, units=(128, 128)):
    keras.utils.set_random_seed(0)
    model = mtl.build_hard_sharing(keras.Input((FEATURES,)), mtl.backbones.mlp(list(units)),
                                   make_tasks(num_tasks))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.make_train_function()
    return model


class Probed:
    """Drives a model's training steps the way `fit` does, with one callback attached."""

    def __init__(self, model, callback):
        self.model, self.callback = model, callback
        callback.set_model(model)
        callback.on_train_begin()
        self.plain = model.train_function.plain   # the dispatcher keeps the plain function
        self.step = 0

    def run(self, iterator, steps):
        start = time.perf_counter()
        for _ in range(steps):
            self.callback.on_train_batch_begin(self.step)
            logs = self.model.train_function(iterator)
            self.step += 1
        float(logs["loss"])
        return time.perf_counter() - start

    def run_plain(self, iterator, steps):
        start = time.perf_counter()
        for _ in range(steps):
            logs = self.plain(iterator)
        float(logs["loss"])
        return time.perf_counter() - start

    def close(self):
        self.callback.on_train_end()


def measure(num_tasks, units, rounds, steps):
    iterator = iter(make_data(num_tasks))
    results = {}
    a_a = []
    for label, factory in configurations():
        model = build(num_tasks, units)
        probed = Probed(model, factory())
        probed.run(iterator, 2 * steps)   # warm-up: traces both functions
        probed.run_plain(iterator, steps)
        ratios, plain_times = [], []
        for r in range(rounds):
            if r % 2:
                t_probe = probed.run(iterator, steps)
                t_plain = probed.run_plain(iterator, steps)
            else:
                t_plain = probed.run_plain(iterator, steps)
                t_probe = probed.run(iterator, steps)
            ratios.append(t_probe / t_plain)
            plain_times.append(t_plain / steps)
            if len(a_a) < rounds:   # the noise floor, on the first configuration's model
                a_a.append(probed.run_plain(iterator, steps) / probed.run_plain(iterator, steps))
        every = probed.callback.every_n_steps
        ratio = statistics.median(ratios)
        plain = statistics.median(plain_times)
        per_measurement = (ratio - 1.0) * every   # in plain steps
        quartiles = statistics.quantiles(ratios, n=4)
        results[label] = (ratio, plain * 1e3, per_measurement, (quartiles[0], quartiles[2]))
        probed.close()
        print(f"{label}: {ratio:.3f}", file=sys.stderr, flush=True)
    return results, statistics.median(a_a)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--units", nargs="+", default=["128,128"],
                        help="trunk widths, one comma-separated list per size")
    parser.add_argument("--rounds", type=int, default=150)
    parser.add_argument("--steps", type=int, default=20,
                        help="steps per timed window (a multiple of 10)")
    parser.add_argument("--write", default=None, help="Markdown file to update.")
    args = parser.parse_args(argv)
    if args.steps % 10:
        parser.error(f"Expected --steps to be a multiple of 10. Received: --steps={args.steps}")
    rows = []
    for text in args.units:
        units = [int(u) for u in text.split(",")]
        results, a_a = measure(args.tasks, units, args.rounds, args.steps)
        rows += [[f"{units}", label, f"{ratio:.3f}", f"{q1:.3f} - {q3:.3f}", f"{plain:.2f}",
                  f"{cost:.2f}"] for label, (ratio, plain, cost, (q1, q3)) in results.items()]
        rows.append([f"{units}", "A/A: plain / plain (noise floor)", f"{a_a:.3f}", "", "", ""])
    table = format_table(
        ["trunk", "configuration", "time / plain", "quartiles", "plain step (ms)",
         "one measurement (plain steps)"],
        rows, markdown=True, align=["left", "left", "right", "right", "right", "right"])
    info = (f"{args.tasks} tasks (regression and binary alternating), hard sharing, MLP trunk "
            f"on {FEATURES} features, batch {BATCH}, Adam; per round {args.steps} steps "
            f"through the callback and {args.steps} plain steps on the same model, "
            f"interleaved; median over {args.rounds} rounds; {environment()}")
    print(table)
    print(info)
    if args.write:
        command = "python benchmarks/affinity_overhead.py " + " ".join(argv or sys.argv[1:])
        write_section(args.write, SECTION, f"{SECTION}\n\nTraining time with the callback "
                      f"divided by training time without it (1.00 = no overhead). {info}.\n\n"
                      f"Command: `{command.strip()}`\n\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
