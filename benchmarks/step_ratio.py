"""Step time of gradient methods over static weights, to compare commits in one session.

A small, fast version of `weighting_overhead.py` for a few methods: static
weights and each method in both modes (representation, parameters) are
built once; in every round each method (in a random order) runs `20` steps
right next to static weights (alternating which goes first); the figure is
the median over rounds of method time / static time. Because it imports
`mtl_keras` from `sys.path`, the same command measures another commit
checked out in a worktree, so two commits are compared on the same machine
in the same session:

    python benchmarks/step_ratio.py --tasks 4 --methods mgda cagrad --rounds 7
    git worktree add /tmp/before <commit>
    (cd /tmp && PYTHONPATH=/tmp/before python /path/to/benchmarks/step_ratio.py --tasks 4 \\
        --methods mgda cagrad --rounds 7)

Only public API that has not changed since 2026-11-24 is used (builders,
`Task(metrics=[])`, `weighting.get`, `compile`, `train_function`), so that the
script runs against older commits; it times steps with `_common.time_steps`.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import mtl_keras as mtl  # noqa: E402
from _common import time_steps  # noqa: E402

FEATURES, BATCH, UNITS = 32, 128, [128, 128]


def _iterator(num_tasks):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH * 8, FEATURES)).astype("float32")
    y = {f"t{i}": (rng.normal(size=BATCH * 8).astype("float32") if i % 2 == 0
                   else rng.integers(0, 2, BATCH * 8).astype("int32")) for i in range(num_tasks)}
    return iter(tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH).cache().repeat())


def _model(num_tasks, name, mode):
    keras.utils.set_random_seed(0)
    strategy = mtl.weighting.get(name)
    if mode:
        strategy = type(strategy).from_config({**strategy.get_config(), "mode": mode})
    tasks = [mtl.Task(f"t{i}", "regression" if i % 2 == 0 else "binary", metrics=[])
             for i in range(num_tasks)]
    model = mtl.build_hard_sharing(keras.Input((FEATURES,)), mtl.backbones.mlp(UNITS), tasks)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), weighting=strategy)
    model.make_train_function()
    return model


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=4)
    p.add_argument("--methods", nargs="+", default=["pcgrad"])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--steps", type=int, default=20)
    args = p.parse_args(argv)
    print(f"mtl_keras from {os.path.dirname(mtl.__file__)}", flush=True)
    iterator = _iterator(args.tasks)
    labels = [(f"{m} ({mode})", m, mode) for m in args.methods
              for mode in ("representation", "parameters")]
    models = {"static": _model(args.tasks, "static", None)}
    models.update({label: _model(args.tasks, m, mode) for label, m, mode in labels})
    for model in models.values():
        time_steps(model, iterator, 5)  # tracing and compilation
    ratios = {label: [] for label, _, _ in labels}
    order = list(ratios)
    for r in range(args.rounds):
        random.shuffle(order)
        for label in order:
            pair = [label, "static"] if r % 2 == 0 else ["static", label]
            t = {k: time_steps(models[k], iterator, args.steps) for k in pair}
            ratios[label].append(t[label] / t["static"])
    for label, values in ratios.items():
        print(f"{args.tasks} tasks  {label:<32} {statistics.median(values):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
