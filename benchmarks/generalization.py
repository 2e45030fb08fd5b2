"""Generalization on MultiFashion: one model per task versus multi-task models.

For each training-set size and seed, trains

* single-task models (one LeNet-style `ConvEncoder` + head per task), the
  baseline;
* hard sharing (one shared `ConvEncoder`) with equal weights and with every
  weighting method registered in `mtl_keras.weighting.available()`;
* soft sharing (one `ConvEncoder` tower per task, L2-coupled) and MMoE (a
  shared conv stem, then gated MLP experts) with equal weights, when those
  builders exist;

and reports the test accuracy of tasks "left" and "right" (mean and standard
deviation over seeds) and Δm, the mean relative change over the single-task
accuracies (Maninis et al., CVPR 2019; positive is better), paired by seed.

The architecture follows Sener & Koltun (NeurIPS 2018) on MultiMNIST: conv
10@5x5, max-pool, conv 20@5x5, max-pool, dense 50, one linear head per task.
Their reference (MultiMNIST, left / right accuracy): single-task 97.23 / 95.90,
equal weights 96.46 / 94.99, MGDA-UB 97.26 / 95.90.

Usage:

    python benchmarks/generalization.py --quick          # minutes on 2 cores
    python benchmarks/generalization.py                  # 1k, 5k, 60k x 3 seeds

Writes `<out>.json`, `<out>.md` (the table) and `<out>.png` (the plot).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import mtl_keras as mtl  # noqa: E402
from mtl_keras._tables import format_table  # noqa: E402
from mtl_keras.evaluation import delta_m  # noqa: E402

TASKS = ("left", "right")
REFERENCE = {  # Sener & Koltun 2018, MultiMNIST, test accuracy (%)
    "single-task": (97.23, 95.90),
    "equal weights": (96.46, 94.99),
    "MGDA-UB": (97.26, 95.90),
}


def encoder(name="conv_encoder"):
    return mtl.backbones.conv(filters=(10, 20), kernel_size=5, dense_units=50, name=name)


def conv_stem():
    """The conv part of `encoder()` (no dense layer): MMoE's shared stem."""
    return keras.Sequential([
        keras.layers.Reshape((28, 28, 1)),
        keras.layers.Conv2D(10, 5, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(20, 5, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
    ], name="conv_stem")


def build(arch, tasks):
    """A model for `arch` in {"single", "hard", "soft", "mmoe"}."""
    image = keras.Input((28, 28), name="image")
    if arch in ("single", "hard"):
        return mtl.build_hard_sharing(image, encoder(), tasks)
    if arch == "soft":
        return mtl.build_soft_sharing(image, encoder(), tasks, coupling="l2")
    if arch == "mmoe":
        return mtl.build_mmoe({"image": image}, tasks, num_experts=4, expert_units=(50,),
                              preprocessing={"image": conv_stem()})
    raise ValueError(f"Unknown architecture {arch!r}")


def train_eval(arch, method, tasks, train, test, epochs, batch_size, seed, lr):
    """Trains one model; returns `{task: test accuracy in %}`."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = build(arch, tasks)
    model.compile(optimizer=keras.optimizers.Adam(lr), weighting=method)
    names = [t.name for t in tasks]
    # MMoE's conv stem is per-input preprocessing, so its model takes {"image": x}.
    wrap = (lambda a: {"image": a}) if isinstance(model.trunk._inputs_struct, dict) \
        else (lambda a: a)
    x, y = train
    ds = tf.data.Dataset.from_tensor_slices((wrap(x), {n: y[n] for n in names}))
    ds = ds.shuffle(len(x), seed=seed).batch(batch_size).prefetch(2)
    model.fit(ds, epochs=epochs, verbose=0)
    tx, ty = test
    test_ds = tf.data.Dataset.from_tensor_slices((wrap(tx), {n: ty[n] for n in names}))
    test_ds = test_ds.batch(1000)
    logs = model.evaluate(test_ds, verbose=0, return_dict=True)
    return {n: 100.0 * logs[f"{n}_accuracy"] for n in names}


#: Both tasks' metric is accuracy: higher is better.
DIRECTIONS = {t: "max" for t in TASKS}


def configurations(archs, methods):
    configs = []
    if "hard" in archs:
        configs += [("hard", m) for m in methods]
    for arch in ("soft", "mmoe"):
        if arch in archs:
            configs.append((arch, "equal"))
    return configs


def _key(size, seed, arch, method):
    return f"{size}/{seed}/{arch}/{method}"


def _load_log(path):
    """Rows already recorded in the run log `path` (one JSON object per line)."""
    if not os.path.exists(path):
        return {}
    done = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                row = json.loads(line)
                done[_key(row["size"], row["seed"], row["arch"], row["method"])] = row
    return done


def run(args):
    """Trains every configuration; each finished run is appended to
    `<out>.jsonl` at once, and with `--resume` runs already in that log are
    not trained again (a long run can be stopped and continued, and several
    processes can share one log: each skips what the others have finished)."""
    start = time.time()
    log_path = args.out + ".jsonl"
    done = _load_log(log_path) if args.resume else {}
    if not args.resume and os.path.exists(log_path):
        os.replace(log_path, log_path + ".previous")
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)

    def record(row):
        results.append(row)
        with open(log_path, "a") as f:
            f.write(json.dumps(row) + "\n")
        _log(row)

    train_all = mtl.data.load_multifashion("train", path=args.data_path, seed=0)
    test = mtl.data.load_multifashion("test", path=args.data_path, seed=0,
                                      num_examples=args.test_examples)
    tasks = mtl.data.multifashion_tasks()
    sizes = [len(train_all[0]) if s == "full" else int(s) for s in args.sizes]
    results = []  # rows: size, seed, arch, method, left, right, seconds
    for size in sizes:
        epochs = args.epochs or max(3, min(30, math.ceil(args.steps * args.batch_size / size)))
        for seed in args.seeds:
            # A seeded subset of the (already shuffled) training pairs.
            idx = np.random.default_rng(seed).permutation(len(train_all[0]))[:size]
            train = (train_all[0][idx], {t: v[idx] for t, v in train_all[1].items()})
            for arch, method in [("single", "-")] + configurations(args.archs, args.methods):
                key = _key(size, seed, arch, method)
                if args.resume and key not in done:
                    # Another process sharing the log may have run it meanwhile.
                    done = {**_load_log(log_path), **done}
                if key in done:
                    results.append(done[key])
                    continue
                t0 = time.time()
                if arch == "single":
                    acc = {}
                    for task in tasks:
                        acc.update(train_eval("single", "equal", [task], train, test, epochs,
                                              args.batch_size, seed, args.lr))
                else:
                    acc = train_eval(arch, method, tasks, train, test, epochs,
                                     args.batch_size, seed, args.lr)
                record(dict(size=size, seed=seed, arch=arch, method=method,
                            epochs=epochs, seconds=time.time() - t0, **acc))
    # Wall time of this invocation plus that of the runs it resumed.
    wall = time.time() - start + sum(r["seconds"] for r in done.values())
    return results, wall


def _log(row):
    print(f"n={row['size']:>5} seed={row['seed']} {row['arch']:>6} {row['method']:<12} "
          f"left={row['left']:.2f} right={row['right']:.2f} ({row['seconds']:.0f}s)",
          flush=True)


def summarize(results):
    """One row per (size, arch, method): mean and std over seeds of each
    task's accuracy and of Δm (paired with the single-task run of the same seed)."""
    base = {(r["size"], r["seed"]): r for r in results if r["arch"] == "single"}
    groups = {}
    for r in results:
        groups.setdefault((r["size"], r["arch"], r["method"]), []).append(r)
    table = []
    for (size, arch, method), rows in groups.items():
        left = np.array([r["left"] for r in rows])
        right = np.array([r["right"] for r in rows])
        dm = np.array([delta_m(r, base[(size, r["seed"])], DIRECTIONS) for r in rows])
        table.append(dict(size=size, arch=arch, method=method, seeds=len(rows),
                          left=left.mean(), left_std=left.std(),
                          right=right.mean(), right_std=right.std(),
                          delta_m=dm.mean(), delta_m_std=dm.std()))
    return table


def markdown(table):
    rows = [[r["size"], r["arch"], r["method"], r["seeds"],
             f"{r['left']:.2f} ± {r['left_std']:.2f}", f"{r['right']:.2f} ± {r['right_std']:.2f}",
             f"{r['delta_m']:+.2f} ± {r['delta_m_std']:.2f}"] for r in table]
    return format_table(
        ["train size", "model", "weighting", "seeds", "left acc (%)", "right acc (%)", "Δm (%)"],
        rows, markdown=True,
        align=["right", "left", "left", "right", "right", "right", "right"])


def plot(table, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted({r["size"] for r in table})
    labels = sorted({(r["arch"], r["method"]) for r in table if r["arch"] != "single"})
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(labels) + 2), 4))
    width = 0.8 / max(1, len(sizes))
    for i, size in enumerate(sizes):
        rows = {(r["arch"], r["method"]): r for r in table if r["size"] == size}
        xs = [j + i * width for j, lab in enumerate(labels) if lab in rows]
        dm = [rows[lab]["delta_m"] for lab in labels if lab in rows]
        err = [rows[lab]["delta_m_std"] for lab in labels if lab in rows]
        ax.bar(xs, dm, width, yerr=err, label=f"n = {size}", capsize=2)
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(labels))])
    ax.set_xticklabels([f"{a}\n{m}" for a, m in labels],
                       rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("Δm over single-task (%)  (higher is better)")
    ax.set_title("MultiFashion: multi-task vs single-task test accuracy")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="tiny run: n=1000, seeds 0-2, ~200 steps, 2000 test examples, "
                        "hard sharing with equal/uncertainty/mgda_ub/pcgrad only")
    p.add_argument("--sizes", nargs="+", default=None, help="training sizes, or 'full'")
    p.add_argument("--seeds", nargs="+", type=int, default=None)
    p.add_argument("--methods", nargs="+", default=None,
                   help="weighting methods for hard sharing (default: all registered)")
    p.add_argument("--archs", nargs="+", default=["single", "hard", "soft", "mmoe"])
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs (default: ~--steps optimizer steps, 3..30 epochs)")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--test-examples", type=int, default=None)
    p.add_argument("--data-path", default=None, help="Fashion-MNIST IDX directory")
    p.add_argument("--out", default="benchmarks/results/generalization")
    p.add_argument("--resume", action="store_true",
                   help="keep the runs already recorded in <out>.jsonl and train only "
                        "the missing ones")
    p.add_argument("--from-json", nargs="+", default=None,
                   help="no training: merge the results of earlier runs' JSON files (or "
                        "their .jsonl run logs) into one table and plot")
    args = p.parse_args(argv)
    if args.quick:
        args.sizes = args.sizes or ["1000"]
        args.seeds = args.seeds if args.seeds is not None else [0, 1, 2]
        args.methods = args.methods or ["equal", "uncertainty", "mgda_ub", "pcgrad"]
        args.test_examples = args.test_examples or 2000
        args.steps = min(args.steps, 200)
    args.sizes = args.sizes or ["1000", "5000", "full"]
    args.seeds = args.seeds if args.seeds is not None else [0, 1, 2]
    available = mtl.weighting.available()
    if args.methods is None:
        # Every method but static weights and those made for auxiliary tasks
        # (GCS, OL-AUX): every task here is a main task.
        aux_methods = (mtl.weighting.GCS, mtl.weighting.OLAux)
        args.methods = [m for m in available if m != "static"
                        and not isinstance(mtl.weighting.get(m), aux_methods)]
    unknown = [m for m in args.methods if m not in available]
    if unknown:
        p.error(f"unknown weighting methods {unknown}; available: {available}")
    args.archs = [a for a in args.archs
                  if a in ("single", "hard") or getattr(mtl, f"build_{a}_sharing"
                                                        if a == "soft" else f"build_{a}", None)]
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.from_json:
        results, wall = [], 0.0
        for path in args.from_json:
            if path.endswith(".jsonl"):   # the log of a (possibly unfinished) run
                rows = list(_load_log(path).values())
                results += rows
                wall += sum(r["seconds"] for r in rows)
                continue
            with open(path) as f:
                saved = json.load(f)
            results += saved["results"]
            wall += saved["wall_seconds"]
    else:
        results, wall = run(args)
    table = sorted(summarize(results), key=lambda r: (r["size"], r["arch"] != "single",
                                                      r["arch"], r["method"]))
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    command = "python benchmarks/generalization.py " + " ".join(sys.argv[1:] if argv is None
                                                                  else argv)
    with open(args.out + ".json", "w") as f:
        json.dump({"command": command, "wall_seconds": wall, "results": results,
                   "summary": table}, f, indent=1)
    text = markdown(table)
    with open(args.out + ".md", "w") as f:
        f.write(text + "\n")
    plot(table, args.out + ".png")
    print(text)
    print(f"wall time: {wall:.0f} s; command: {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
