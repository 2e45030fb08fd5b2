"""Train every sharing architecture on the penguin tasks and compare them.

Usage:
    python examples/architectures.py [--epochs 60] [--seeds 1] [--width 16]

Hard sharing, soft sharing (L2 and trace-norm coupling), cross-stitch, MMoE and
PLE are built at a similar scale (representations of `--width` units), trained
with Adam and equal weights on the training split, and evaluated on the test
split. The table lists trainable parameters, training time and, per task, the
test metric: species and sex accuracy (higher is better), body mass MAE in kg
(lower is better); with `--seeds N` the metrics are means over N seeds.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import mtl_keras as mtl  # noqa: E402
from mtl_keras.regularizers import L2Coupling, TraceNormCoupling  # noqa: E402


def architectures(width: int):
    """name -> build(data) for each architecture, at a similar scale."""
    def mlp(name="mlp"):
        return mtl.backbones.mlp([width, width], name=name)

    return {
        "hard sharing": lambda d: mtl.build_hard_sharing(
            d.inputs(), mlp(), d.tasks, preprocessing=d.preprocessing()),
        "soft sharing, L2": lambda d: mtl.build_soft_sharing(
            d.inputs(), mlp(), d.tasks, coupling=L2Coupling(1e-2),
            preprocessing=d.preprocessing()),
        "soft sharing, trace norm": lambda d: mtl.build_soft_sharing(
            d.inputs(), mlp(), d.tasks, coupling=TraceNormCoupling(1e-2),
            preprocessing=d.preprocessing()),
        "cross-stitch": lambda d: mtl.build_cross_stitch(
            d.inputs(), [mtl.backbones.mlp([width], name="s0"),
                         mtl.backbones.mlp([width], name="s1")],
            d.tasks, preprocessing=d.preprocessing()),
        "MMoE (4 experts)": lambda d: mtl.build_mmoe(
            d.inputs(), d.tasks, num_experts=4, expert_units=(width, width),
            preprocessing=d.preprocessing()),
        "PLE (2 levels)": lambda d: mtl.build_ple(
            d.inputs(), d.tasks, num_levels=2, num_task_experts=1, num_shared_experts=1,
            expert_units=(width,), preprocessing=d.preprocessing()),
    }


def run(name, build, data, epochs, seed):
    keras.utils.set_random_seed(seed)
    model = build(data)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    start = time.perf_counter()
    model.fit(data.dataset("train"), epochs=epochs, verbose=0)
    seconds = time.perf_counter() - start
    logs = model.evaluate(data.dataset("test"), verbose=0, return_dict=True)
    params = sum(int(np.prod(v.shape)) for v in model.trainable_variables
                 if model.weighting is None or all(v is not w for w in model.weighting.weights))
    return {"params": params, "seconds": seconds, "species": logs["species_accuracy"],
            "sex": logs["sex_accuracy"], "body_mass": logs["body_mass_mae"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--width", type=int, default=16)
    args = parser.parse_args()
    data = mtl.data.load_penguins(seed=0)
    rows = []
    for name, build in architectures(args.width).items():
        results = [run(name, build, data, args.epochs, seed) for seed in range(args.seeds)]
        mean = {k: float(np.mean([r[k] for r in results])) for k in results[0]}
        rows.append((name, mean))
        print(f"trained {name}", flush=True)
    header = ("| architecture | parameters | train time (s) | species acc. | sex acc. "
              "| body mass MAE (kg) |")
    print()
    print(header)
    print("|" + "---|" * 6)
    for name, r in rows:
        print(f"| {name} | {int(r['params'])} | {r['seconds']:.1f} | {r['species']:.3f} "
              f"| {r['sex']:.3f} | {r['body_mass']:.3f} |")


if __name__ == "__main__":
    main()
