"""Evidence for task grouping: an unrelated task among related ones; every partition trained.

On a real table that ships in a package, the related tasks get an unrelated
companion: a **shuffled-label copy** of one of them (its labels permuted across
the rows of each split, so it has the same marginal distribution and no relation
to the inputs). For every seed (which sets the split, the permutation and the
initialization) the script

1. measures the inter-task affinity (`mtl.affinity.measure_affinity`) during a
   short run of the hard-sharing model of all the tasks, and takes the
   recommended grouping (`AffinityResult.recommended()`);
2. trains **every partition** of the tasks for real (`mtl.build_grouped`, one
   MLP per group, same width for every group): Bell(4) = 15 models for 4 tasks.
   Among them are single-task learning (every task alone: one network per task,
   trained in one model, which with Adam and no shared variable is the same as
   separate models), everything together (hard sharing with the unrelated task),
   and the related tasks together without it (the unrelated task alone).

It reports (a) whether the affinity matrix separates the unrelated task, (b)
whether training everything together hurts the related tasks compared with
training them without it, (c) the recommended grouping against single-task
learning, and the recommended grouping against the exhaustive search (the
partition a user would pick by validation score after training all 15, and the
best on test in hindsight). The yardstick is Δm over the related tasks' primary
test metrics relative to single-task learning (Maninis et al., CVPR 2019;
positive is better); the unrelated task's own score is not counted. Means over
seeds with 95 % t-intervals, paired tests across seeds (scipy.stats).

Tables: `penguins` (species, sex, body_mass from `palmerpenguins`; unrelated
task `body_mass_shuffled`) and `wine` (UCI Wine from scikit-learn's package
data: cultivar, flavanoids, color_intensity from 9 other measurements;
unrelated task `flavanoids_shuffled`). Regression targets are standardized on
the training split (so a shuffled copy shares no offset with its source).

Usage:

    python benchmarks/affinity_evidence.py --tables penguins --seeds 10 --resume
    python benchmarks/affinity_evidence.py --tables penguins wine --report-only \
        --write BENCHMARKS.md

Every fit is appended to `benchmarks/results/affinity_evidence_<table>.jsonl` as
it finishes; `--resume` skips the fits already there (an existing log is never
overwritten without it). Writes `affinity_evidence_<table>.md` and `.png` next to it;
`_affinity_report.py` holds the analysis, the tables and the plot.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import _common  # noqa: E402
import mtl_keras as mtl  # noqa: E402
from _affinity_report import key_of, partitions, plot, report  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
HEADING = "## Which tasks should share? (evidence)"
SPLITS = ("train", "validation", "test")


@dataclasses.dataclass
class Table:
    """A table's tasks and splits: `splits[split] = (features, labels)` NumPy dicts."""

    name: str
    tasks: list
    splits: dict
    input_dims: dict
    related: tuple
    noise: str

    def inputs(self):
        return {k: keras.Input((d,), name=k) for k, d in self.input_dims.items()}

    def preprocessing(self):
        first = next(iter(self.input_dims))
        norm = keras.layers.Normalization(name=f"{first}_normalization")
        norm.adapt(self.splits["train"][0][first])
        return {first: norm}

    def dataset(self, split, batch_size, seed):
        features, labels = self.splits[split]
        ds = tf.data.Dataset.from_tensor_slices((features, labels))
        if split == "train":
            ds = ds.shuffle(len(labels[self.noise]), seed=seed, reshuffle_each_iteration=True)
        return ds.batch(batch_size)


def _add_noise(splits, source, noise, seed):
    rng = np.random.default_rng(10_000 + seed)
    for _, labels in splits.values():
        labels[noise] = rng.permutation(labels[source])
    return splits


def penguins_table(seed):
    data = mtl.data.load_penguins(seed=seed)
    splits = {s: (dict(getattr(data, s).features), dict(getattr(data, s).labels)) for s in SPLITS}
    mass = splits["train"][1]["body_mass"]
    for _, labels in splits.values():  # standardized: no shared offset for the copy to learn
        labels["body_mass"] = ((labels["body_mass"] - mass.mean()) / mass.std()).astype("float32")
    _add_noise(splits, "body_mass", "body_mass_shuffled", seed)
    tasks = list(data.tasks) + [mtl.Task("body_mass_shuffled", "regression")]
    return Table("penguins", tasks, splits, {"measurements": 3, "island": 3},
                 ("species", "sex", "body_mass"), "body_mass_shuffled")


def wine_table(seed):
    rows = np.array(_common.wine_rows(), "float64")
    # Columns: 0 alcohol, 1 malic acid, 2 ash, 3 alcalinity, 4 magnesium, 5 total phenols,
    # 6 flavanoids, 7 nonflavanoid phenols, 8 proanthocyanins, 9 color intensity, 10 hue,
    # 11 OD280/OD315, 12 proline, 13 cultivar. 5 and 11 are near-copies of the assays.
    features = rows[:, [0, 1, 2, 3, 4, 7, 8, 10, 12]].astype("float32")
    order = np.random.default_rng(seed).permutation(len(rows))
    cut = [int(round(0.7 * len(rows))), int(round(0.85 * len(rows)))]
    index = dict(zip(SPLITS, np.split(order, cut)))
    train = index["train"]
    targets = {"cultivar": rows[:, 13].astype("int32")}
    for name, col in (("flavanoids", 6), ("color_intensity", 9)):
        y = rows[:, col]
        targets[name] = ((y - y[train].mean()) / y[train].std()).astype("float32")
    splits = {s: ({"features": features[i]}, {k: v[i] for k, v in targets.items()})
              for s, i in index.items()}
    _add_noise(splits, "flavanoids", "flavanoids_shuffled", seed)
    tasks = [mtl.Task("cultivar", "multiclass", num_classes=3),
             mtl.Task("flavanoids", "regression"), mtl.Task("color_intensity", "regression"),
             mtl.Task("flavanoids_shuffled", "regression")]
    return Table("wine", tasks, splits, {"features": features.shape[1]},
                 ("cultivar", "flavanoids", "color_intensity"), "flavanoids_shuffled")


TABLES = {"penguins": penguins_table, "wine": wine_table}


def _scores(model, table, split, batch_size):
    logs = model.evaluate(table.dataset(split, batch_size, 0), return_dict=True, verbose=0)
    return {k: float(v) for k, v in logs.items()}


def _model(table, seed, args, groups=None):
    """The grouped model of `groups` (hard sharing for None), compiled, from seed `seed`."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    backbone, pre = mtl.backbones.mlp(args.units), table.preprocessing()
    model = (mtl.build_hard_sharing(table.inputs(), backbone, table.tasks, preprocessing=pre)
             if groups is None else
             mtl.build_grouped(table.inputs(), backbone, table.tasks, groups, preprocessing=pre))
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    return model


def fit_partition(table, seed, groups, args):
    model = _model(table, seed, args, groups)
    model.fit(table.dataset("train", args.batch_size, seed), epochs=args.epochs, verbose=0)
    return {"validation": _scores(model, table, "validation", args.batch_size),
            "test": _scores(model, table, "test", args.batch_size)}


def measure(table, seed, args):
    result = mtl.affinity.measure_affinity(
        _model(table, seed, args), table.dataset("train", args.batch_size, seed),
        epochs=args.affinity_epochs, every_n_steps=args.every, verbose=0)
    return {"affinity": result.to_dict(), "recommended": key_of(
        result.recommended().groups, [t.name for t in table.tasks])}


def run(name, args):
    """Trains what the log at `<results>/affinity_evidence_<name>.jsonl` does not hold yet."""
    log = os.path.join(args.results, f"affinity_evidence_{name}.jsonl")
    done = load_log(log)
    if done and not args.resume:
        raise SystemExit(f"error: {log} exists ({len(done)} fits): pass --resume to continue "
                         "it, or move it away to start again.")
    settings = {k: getattr(args, k) for k in ("units", "epochs", "batch_size", "learning_rate",
                                              "affinity_epochs", "every")}
    other = {json.dumps(r["settings"]) for r in done.values()} - {json.dumps(settings)}
    if other:
        raise SystemExit(f"error: {log} holds fits with other settings {sorted(other)}; "
                         f"these are {settings}: one log per setting (--results).")
    with open(log, "a", encoding="utf-8") as f:
        for seed in range(args.seeds):
            table = TABLES[name](seed)
            names = [t.name for t in table.tasks]
            jobs = [("affinity", None)] + [(key_of(p, names), p) for p in partitions(names)]
            for key, groups in jobs:
                if (seed, key) in done:
                    continue
                start = time.perf_counter()
                row = measure(table, seed, args) if groups is None else fit_partition(
                    table, seed, groups, args)
                row.update(seed=seed, key=key, seconds=time.perf_counter() - start,
                           settings=settings)
                f.write(json.dumps(row) + "\n")
                f.flush()
                done[(seed, key)] = row
                print(f"{name} seed {seed} {key}: {row['seconds']:.1f}s", flush=True)


def load_log(path):
    """`{(seed, key): row}` of the fits in the log at `path`."""
    return {(row["seed"], row["key"]): row for row in _common.read_log(path)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tables", nargs="+", choices=sorted(TABLES), default=["penguins"])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--units", type=lambda s: [int(u) for u in s.split(",")], default=[32, 32])
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=0.01)
    p.add_argument("--affinity-epochs", type=int, default=20)
    p.add_argument("--every", type=int, default=1, help="affinity every N steps")
    p.add_argument("--resume", action="store_true", help="continue the existing logs")
    p.add_argument("--report-only", action="store_true", help="no training: report the logs")
    p.add_argument("--results", default=RESULTS)
    p.add_argument("--write", help="Markdown file to write the section into (BENCHMARKS.md)")
    args = p.parse_args(argv)
    if min(args.seeds, args.epochs, args.affinity_epochs, args.every, args.batch_size) < 1:
        p.error("--seeds, --epochs, --affinity-epochs, --every, --batch-size must be >= 1")
    os.makedirs(args.results, exist_ok=True)
    sections = []
    for name in args.tables:
        if not args.report_only:
            run(name, args)
        done = load_log(os.path.join(args.results, f"affinity_evidence_{name}.jsonl"))
        table = TABLES[name](0)
        text = report(table, done)
        png = plot(table, done, os.path.join(args.results, f"affinity_evidence_{name}.png"))
        with open(os.path.join(args.results, f"affinity_evidence_{name}.md"), "w",
                  encoding="utf-8") as f:
            f.write(text + "\n")
        print(text)
        sections.append(text + (f"\n![{name}: affinity and every partition]"
                                f"(benchmarks/results/{os.path.basename(png)})\n" if png else ""))
    if args.write:
        tables = " ".join(args.tables)
        body = "\n".join([
            HEADING, "", f"`python benchmarks/affinity_evidence.py --tables {tables} --seeds N "
            f"--resume`, then `--report-only --write BENCHMARKS.md` ({_common.environment()}). "
            "The design is in the script's docstring; every fit is in "
            "`benchmarks/results/affinity_evidence_<table>.jsonl`.", ""] + sections)
        _common.write_section(args.write, HEADING, body)


if __name__ == "__main__":
    main()
