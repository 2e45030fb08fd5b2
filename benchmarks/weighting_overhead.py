"""Step time of every weighting method divided by static weights', same run.

For 2, 4 and 8 tasks (alternating regression and binary heads on an MLP
trunk), `--copies` models per method (and of static weights) are built in a
shuffled order, compiled and warmed up, then rounds are interleaved: in every
round each method, in a fresh random order, runs `--steps` training steps of
each of its copies through the compiled train function, each right next to
a copy of the static-weights model doing the same (alternating which goes
first). The figure is the median over rounds of the summed method time over
the summed static time. Every name in
`mtl_keras.weighting.available()` is measured; a gradient-combination method
(`combines_gradients=True`) is measured in both its modes ("representation"
and "parameters"). The auxiliary-task methods (`AUXILIARY_METHODS`: GCS,
OL-AUX) need auxiliary tasks: their models mark every second task (the binary
ones) `auxiliary=True`.

    python benchmarks/weighting_overhead.py [--tasks 2 4 8] [--rounds 15] [--steps 40]
        [--copies 3] [--methods dwa famo ...] [--log FILE [--resume]] [--write BENCHMARKS.md]

`--log` appends each finished task count's ratios to a JSON-lines file as soon
as it is measured, so a long grid stopped half-way keeps what it measured;
with `--resume` the task counts already in the log (with the same settings)
are not measured again and the table is built from the log. `--write`
replaces the `## Weighting overhead` section of that file.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _common import environment, read_log, time_steps, write_section  # noqa: E402

import mtl_keras as mtl  # noqa: E402
from mtl_keras._tables import format_table  # noqa: E402

FEATURES, UNITS, BATCH = 32, (128, 128), 128
SECTION = "## Weighting overhead"
#: Methods that weigh auxiliary tasks against main ones (they refuse a model
#: without auxiliary tasks).
AUXILIARY_METHODS = ("gcs", "gcs_weighted", "ol_aux")


def variants(names):
    """(label, method name, mode) for each measured configuration."""
    out = []
    for name in names:
        if mtl.weighting.get(name).combines_gradients:
            out += [(f"{name} ({mode})", name, mode) for mode in ("representation", "parameters")]
        else:
            out.append((name, name, None))
    return out


def make_tasks(num_tasks, auxiliary=False):
    """Alternating regression and binary tasks; with `auxiliary`, the binary ones are."""
    return [mtl.Task(f"t{i}", "regression" if i % 2 == 0 else "binary", metrics=[],
                     auxiliary=auxiliary and i % 2 == 1)
            for i in range(num_tasks)]


def make_data(num_tasks):
    rng = np.random.default_rng(0)
    n = BATCH * 8
    x = rng.normal(size=(n, FEATURES)).astype("float32")
    y = {f"t{i}": (rng.normal(size=n).astype("float32") if i % 2 == 0
                   else rng.integers(0, 2, n).astype("int32")) for i in range(num_tasks)}
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH).cache().repeat()


def build(num_tasks, name, mode):
    keras.utils.set_random_seed(0)
    strategy = mtl.weighting.get(name)
    if mode is not None:
        strategy = type(strategy).from_config({**strategy.get_config(), "mode": mode})
    model = mtl.build_hard_sharing(keras.Input((FEATURES,)), mtl.backbones.mlp(list(UNITS)),
                                   make_tasks(num_tasks, name in AUXILIARY_METHODS))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), weighting=strategy)
    model.make_train_function()
    return model


def measure(num_tasks, configs, rounds, steps, copies=1):
    """Median over rounds of each config's time / static's, for one task count.

    With `copies > 1` every configuration (static included) is built that
    many times and every round times all copies: identical models can differ
    in speed by a few percent (memory placement), and summing over copies
    keeps one lucky or unlucky copy from deciding the ratio.
    """
    iterator = iter(make_data(num_tasks))
    # Built in a shuffled order: models built earlier in a process can run a
    # few percent slower than later ones (see benchmarks/overhead.py), so
    # static weights must not always take the first slot.
    jobs = [(c, label, name, mode) for c in range(copies)
            for label, name, mode in [("static", "static", None)] + list(configs)]
    random.Random(num_tasks).shuffle(jobs)
    built = {(c, label): build(num_tasks, name, mode) for c, label, name, mode in jobs}
    static = [built[(c, "static")] for c in range(copies)]
    models = {label: [built[(c, label)] for c in range(copies)] for label, _, _ in configs}
    for model in static + [m for ms in models.values() for m in ms]:
        time_steps(model, iterator, 3)   # warm-up: tracing, data cache
    ratios = {label: [] for label in models}
    order = list(models)
    for r in range(rounds):
        random.shuffle(order)
        for label in order:
            # Every copy of the method is timed right next to a copy of static
            # weights (alternating which goes first), so slow drifts of the
            # machine cancel out; the round's ratio is the summed time of the
            # method's copies over the summed time of static's.
            t_method = t_static = 0.0
            for c in range(copies):
                method, base = models[label][c], static[c]
                for model in (method, base) if (r + c) % 2 else (base, method):
                    t = time_steps(model, iterator, steps)
                    if model is method:
                        t_method += t
                    else:
                        t_static += t
            ratios[label].append(t_method / t_static)
    return {label: statistics.median(r) for label, r in ratios.items()}


def load_log(path, settings):
    """{task count: {label: ratio}} from the log lines measured with `settings`.

    Refuses a log written with other settings: mixing them in one table
    would compare figures that are not comparable.
    """
    done = {}
    for entry in read_log(path):
        if entry["settings"] != settings:
            raise SystemExit(f"error: {path} holds ratios measured with {entry['settings']}, "
                             f"this run asks for {settings}; use another --log file")
        done[entry["tasks"]] = entry["ratios"]
    return done


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--methods", nargs="+", default=None,
                        help="Default: every name in mtl_keras.weighting.available().")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--copies", type=int, default=1,
                        help="independently built copies of every model, all timed every round")
    parser.add_argument("--log", default=None,
                        help="JSON-lines file that receives each task count's ratios when done")
    parser.add_argument("--resume", action="store_true",
                        help="skip the task counts already in --log (same settings)")
    parser.add_argument("--write", default=None, help="Markdown file to update.")
    args = parser.parse_args(argv)
    if args.resume and not args.log:
        parser.error("--resume needs --log FILE")
    if args.log and os.path.exists(args.log) and not args.resume:
        parser.error(f"{args.log} exists: pass --resume to continue it, or another --log file")
    random.seed(0)
    names = args.methods or [n for n in mtl.weighting.available() if n != "static"]
    configs = variants(names)
    settings = {"methods": sorted(names), "rounds": args.rounds, "steps": args.steps,
                "copies": args.copies}
    results = {t: r for t, r in load_log(args.log, settings).items() if t in args.tasks}
    for t in args.tasks:
        if t in results:
            print(f"{t} tasks: from {args.log}", file=sys.stderr, flush=True)
            continue
        results[t] = measure(t, configs, args.rounds, args.steps, args.copies)
        if args.log:
            with open(args.log, "a") as f:
                f.write(json.dumps({"tasks": t, "settings": settings,
                                    "ratios": results[t]}) + "\n")
        print(f"{t} tasks done", file=sys.stderr, flush=True)
    table = format_table(
        ["method"] + [f"{t} tasks" for t in args.tasks],
        [[label] + [f"{results[t][label]:.3f}" for t in args.tasks] for label, _, _ in configs],
        markdown=True, align=["left"] + ["right"] * len(args.tasks))
    info = (f"MLP trunk {list(UNITS)} on {FEATURES} features, batch {BATCH}, Adam; "
            f"{args.steps} steps per timing, each method next to static weights, "
            f"{args.rounds} interleaved rounds ({args.copies} copies of every model, summed per round), "
            f"median of per-round ratios; {environment()}")
    print(table)
    print(info)
    if args.write:
        command = "python benchmarks/weighting_overhead.py " + " ".join(argv or sys.argv[1:])
        write_section(args.write, SECTION, f"{SECTION}\n\nStep time of each method divided by "
                      f"static weights' in the same run (1.00 = no overhead). {info}.\n\n"
                      f"Command: `{command.strip()}`\n\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
