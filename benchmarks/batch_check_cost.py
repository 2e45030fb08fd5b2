"""What the per-batch value check costs a training step, in one process.

The `MultiTaskModel` step of `overhead.py` (task i is 5-class, binary or
regression, MLP [256, 256] on 64 features, batch 256) in three variants,
each against a plain Keras multi-output model with the same layers: the
shipped step (label rules checked together per group of labels of one dtype
and shape, `mtl_keras.value_checks._fused_oks`), the same step with every
rule checked on its own (the previous implementation), and the step without
any value check. Two copies of each model; every round times 20 steps of
each, in alternating order; the figure is the median over rounds of summed
variant time / summed plain time.

    python benchmarks/batch_check_cost.py --tasks 8 16 --rounds 10
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import time_steps  # noqa: E402
from overhead import build_mtl, build_plain, make_data, make_tasks  # noqa: E402

import mtl_keras.trainer as trainer  # noqa: E402
from mtl_keras import value_checks  # noqa: E402


@contextlib.contextmanager
def _patched(module, name, value):
    original = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, original)


VARIANTS = {
    "grouped check (shipped)": contextlib.nullcontext,
    "per-rule check": lambda: _patched(value_checks, "_fused_oks",
                                       lambda checks: [rule.ok() for rule in checks]),
    "no check": lambda: _patched(trainer.validation, "assert_batch_values",
                                 lambda *args, **kwargs: None),
}


def measure(num_tasks, rounds, steps=20):
    tasks = make_tasks(num_tasks)
    iterator = iter(make_data(256 * 16, 64, 256, tasks))
    models = []
    for _ in range(2):
        models.append(("plain", build_plain(64, [256, 256], tasks), contextlib.nullcontext))
        models += [(k, build_mtl(64, [256, 256], tasks), ctx) for k, ctx in VARIANTS.items()]
    for _, model, ctx in models:
        with ctx():  # the variant is traced into the train function here
            model.make_train_function()
            time_steps(model, iterator, 10)
    ratios = {k: [] for k in VARIANTS}
    for r in range(rounds):
        seconds = {}
        for label, model, _ in (models if r % 2 == 0 else models[::-1]):
            seconds[label] = seconds.get(label, 0.0) + time_steps(model, iterator, steps)
        for k in VARIANTS:
            ratios[k].append(seconds[k] / seconds["plain"])
    return {k: statistics.median(v) for k, v in ratios.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, nargs="+", default=[8, 16])
    p.add_argument("--rounds", type=int, default=10)
    args = p.parse_args(argv)
    for n in args.tasks:
        for label, ratio in measure(n, args.rounds).items():
            print(f"{n} tasks  {label:<24} MTL / plain {ratio:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
