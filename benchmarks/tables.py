"""Single-task vs multi-task models on real tables, all labelled and with a scarce main task.

Two real tables that ship in a package (nothing is downloaded):

* `penguins`: the bundled Palmer penguins (species, sex, body mass from the
  bill and flipper measurements and the island; 342 birds), split anew per
  seed (`mtl.data.load_penguins(seed)`);
* `wine`: UCI Wine from scikit-learn's package data (178 wines; CC BY 4.0),
  written as a user's CSV and read through a data spec
  (`mtl_keras.data.DataSpec`, as `mtl-keras` configs do): cultivar
  (multiclass, text labels), flavanoids and colour intensity (regression)
  from nine routine measurements, split by hashing a `sample_id` with a
  per-seed `salt`.

Two settings per table:

* `all`: every task fully labelled; one single-task model per task against
  hard sharing (equal weights, uncertainty weighting), MMoE, PLE and soft
  sharing (L2-coupled towers), each over the same MLP width;
* `scarce`: one main task keeps `--fraction` of its labelled training rows
  (penguins: sex; wine: cultivar), the other tasks keep all of theirs and are
  trained as auxiliary tasks; a single-task model of the main task against
  hard sharing (equal weights, GCS), MMoE, PLE and soft sharing. For wine the
  dropped labels are emptied cells of the CSV, as a user's mostly empty
  column would be.

Every fit goes through `mtl_keras.evaluation.compare`: the same split for
every model of a seed, the epoch selected on the validation split
(`val_task_loss_sum` / `val_main_task_loss_sum`), test metrics with t
intervals, paired t and Wilcoxon tests and Δm over single-task. Fits are
cached per table and setting under `--out/fits` (a rerun trains only the
missing ones).

    python benchmarks/tables.py [--tables penguins wine] [--settings all scarce]
        [--seeds 5] [--first-seed 200] [--epochs 40] [--out benchmarks/results/tables]
        [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import _common  # noqa: E402
import mtl_keras as mtl  # noqa: E402
from mtl_keras._tables import format_table  # noqa: E402
from mtl_keras.data import DataSpec  # noqa: E402
from mtl_keras.data.tables import HashSplit  # noqa: E402
from mtl_keras.evaluation import Configuration, compare  # noqa: E402

HEADING = "## Real tables: single-task vs multi-task"
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "tables")
SCARCE_TASK = {"penguins": "sex", "wine": "cultivar"}
WINE_COLUMNS = ["alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium",
                "total_phenols", "flavanoids", "nonflavanoid_phenols", "proanthocyanins",
                "color_intensity", "hue", "od280_od315", "proline"]
WINE_FRACTIONS = {"train": 0.7, "validation": 0.15, "test": 0.15}


# ------------------------------------------------------------------ data
def _write_wine(path, rows, blank=frozenset()):
    """The Wine table as a user's CSV; the cultivar cell of rows in `blank` left empty."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["sample_id", *WINE_COLUMNS, "cultivar"])
        for i, row in enumerate(rows):
            cultivar = "" if i in blank else f"cultivar_{int(row[13]) + 1}"
            writer.writerow([i, *row[:13], cultivar])


def _wine_spec(path, seed):
    return {
        "source": path,
        "split": {"key": "sample_id", "fractions": WINE_FRACTIONS, "salt": f"seed{seed}"},
        "targets": {"cultivar": None, "flavanoids": "regression",
                    "color_intensity": "regression"},
        # Near-copies of the two assays, left out so that they are worth predicting.
        "exclude": ["sample_id", "total_phenols", "od280_od315"],
    }


def wine(seed, work_dir, fraction=None):
    """The Wine `TableData` of `seed`'s split; with `fraction`, scarce cultivar labels."""
    rows, blank = _common.wine_rows(), set()
    if fraction is not None:
        keys = np.arange(len(rows))
        split = HashSplit("sample_id", WINE_FRACTIONS, salt=f"seed{seed}")
        train = keys[split.assign(keys.astype("int64")).numpy() == 0]
        kept = max(1, int(round(fraction * len(train))))
        keep = np.random.default_rng([seed, 7]).choice(train, kept, replace=False)
        blank = set(np.setdiff1d(train, keep).tolist())
    path = os.path.join(work_dir, f"wine_seed{seed}_{'all' if fraction is None else 'scarce'}.csv")
    _write_wine(path, rows, blank)
    return DataSpec.from_dict(_wine_spec(path, seed)).load()


def penguins(seed, work_dir, fraction=None):
    from mtl_keras.commands._demo_comparison import scarce_labels

    data = mtl.data.load_penguins(seed=seed)
    return data if fraction is None else scarce_labels(data, "sex", fraction, seed)[0]


TABLES = {"penguins": penguins, "wine": wine}


# ---------------------------------------------------------------- models
def _hard(units):
    """`build(data, tasks)`: hard sharing over an MLP of `units` (with one task: single-task)."""
    def build(data, tasks):
        return mtl.build_hard_sharing(data.inputs(), mtl.backbones.mlp(units), tasks,
                                      preprocessing=data.preprocessing())
    return build


def configurations(units, scarce):
    """The compared multi-task setups (the baseline is `single_task`)."""
    hard = _hard(units)

    def mmoe(data, tasks):
        return mtl.build_mmoe(data.inputs(), tasks, expert_units=units,
                              preprocessing=data.preprocessing())

    def ple(data, tasks):
        return mtl.build_ple(data.inputs(), tasks, expert_units=units,
                             preprocessing=data.preprocessing())

    def soft(data, tasks):
        return mtl.build_soft_sharing(data.inputs(), mtl.backbones.mlp(units), tasks,
                                      preprocessing=data.preprocessing())

    described = {"units": list(units)}
    configs = [Configuration("hard", hard, description={"arch": "hard", **described})]
    configs.append(Configuration("hard_gcs", hard, weighting="gcs",
                                 description={"arch": "hard", **described}) if scarce else
                   Configuration("hard_uncertainty", hard, weighting="uncertainty",
                                 description={"arch": "hard", **described}))
    configs += [
        Configuration("mmoe", mmoe, description={"arch": "mmoe", "experts": 4, **described}),
        Configuration("ple", ple, description={"arch": "ple", "levels": 2, **described}),
        Configuration("soft", soft, description={"arch": "soft", "coupling": "l2", **described}),
    ]
    return configs


def single_task(units):
    return Configuration("single", _hard(units),
                         description={"arch": "hard", "units": list(units)})


def run(table, setting, args):
    scarce = setting == "scarce"
    work = os.path.join(args.out, "data")
    os.makedirs(work, exist_ok=True)
    load = TABLES[table]
    fraction = args.fraction if scarce else None
    first = load(args.seeds[0], work, fraction)
    names = [t.name for t in first.tasks]
    main = SCARCE_TASK[table]
    tasks = [main] + [n for n in names if n != main] if scarce else names
    result = compare(lambda seed: load(seed, work, fraction),
                     configurations(args.units, scarce), seeds=args.seeds, tasks=tasks,
                     auxiliary=tasks[1:] if scarce else (), single_task=single_task(args.units),
                     epochs=args.epochs, batch_size=args.batch_size,
                     learning_rate=args.learning_rate,
                     directory=os.path.join(args.out, "fits", f"{table}_{setting}"), verbose=1)
    stem = os.path.join(args.out, f"{table}_{setting}")
    result.save(stem + ".json")
    result.plot(stem + ".png", title=f"{table}, {setting}")
    with open(stem + ".md", "w", encoding="utf-8") as f:
        f.write(result.table(markdown=True) + "\n")
    return result


def summary_rows(results):
    """One row per (table, setting, model): Δm [interval], paired p, verdict."""
    rows = []
    for (table, setting), result in results.items():
        for model in result.models[1:]:
            test = result.delta_m(model)
            interval = test.interval
            rows.append([table, setting, model, f"{interval.mean:+.2f}",
                         f"[{interval.low:+.2f}, {interval.high:+.2f}]",
                         f"{test.t_pvalue:.3f}", result.verdict(model)])
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tables", nargs="+", default=list(TABLES), choices=list(TABLES))
    p.add_argument("--settings", nargs="+", default=["all", "scarce"], choices=["all", "scarce"])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--first-seed", type=int, default=200)
    p.add_argument("--fraction", type=float, default=0.1,
                   help="share of the main task's labelled training rows kept (scarce)")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--units", type=int, nargs="+", default=[32])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=0.01)
    p.add_argument("--out", default=RESULTS)
    p.add_argument("--write", default=None, help="BENCHMARKS.md to update")
    args = p.parse_args(argv)
    args.seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    os.makedirs(args.out, exist_ok=True)
    results = {}
    for table in args.tables:
        for setting in args.settings:
            print(f"== {table}, {setting} ==", flush=True)
            results[(table, setting)] = run(table, setting, args)
    rows = summary_rows(results)
    text = format_table(
        ["table", "setting", "model", "Δm %", "95 % interval", "paired t p", "verdict"], rows,
        markdown=True, align=["left"] * 3 + ["right"] * 3 + ["left"])
    print(text)
    with open(os.path.join(args.out, "summary.json"), "w", encoding="utf-8") as f:
        json.dump({"settings": {k: v for k, v in vars(args).items() if k != "write"},
                   "rows": rows}, f, indent=2)
    if args.write:
        command = "python benchmarks/tables.py " + " ".join(argv or sys.argv[1:])
        body = [HEADING, "", f"Command: `{command.strip()}` ({_common.environment()}).", "",
                text, ""]
        for (table, setting), result in results.items():
            body += [f"### {table}, {setting}", "", result.table(markdown=True), "",
                     f"![{table} {setting}](benchmarks/results/tables/{table}_{setting}.png)", ""]
        _common.write_section(args.write, HEADING, "\n".join(body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
