"""Why MMoE and PLE trail hard sharing on small tables: capacity, learning rate, gates.

On the real tables of `benchmarks/tables.py` (UCI Wine, 178 rows; Palmer
penguins, 342 rows; every task labelled) MMoE and PLE with their builder
defaults were the weakest multi-task models. This script isolates the
suspected causes, one change at a time from the default, on the same splits
and seeds as `tables.py` (same data loaders, width 32, 40 epochs, batch 32,
Adam 0.01, the epoch selected on the validation task-loss sum):

* capacity: the number of experts (1, 2, 8 against 4) and their width
  (16, 64 against 32); `mmoe_4x8` has four experts of width 8, the trunk
  parameters of hard sharing's one layer of 32;
* learning rate: 0.003 and 0.03 against 0.01 (and hard sharing at 0.03, to
  tell an MMoE-specific effect from a general one);
* gate collapse: after training, the gates' outputs on the test split (read
  through a `keras.Model` on the gated layers' input tensors): the mean
  normalized entropy of each sample's gate (1: uniform mixing, 0: one expert
  per sample) and the largest mean expert share (1 / experts: balanced,
  1: every sample sent to one expert);
* PLE: one level (CGC) instead of two, width 16, learning rate 0.003.

Every variant is paired by seed against the single-task models, against hard
sharing and against its architecture's default (Δm with t intervals, paired
t-tests); the per-seed Δm of both tables are also pooled. Each fit (with its
gate statistics) is cached as JSON under `--results/fits`; `--resume` reuses
them and trains only what is missing.

    python benchmarks/mmoe_small_tables.py [--tables wine penguins] [--seeds 5]
        [--first-seed 200] [--variants ...] [--results benchmarks/results/mmoe_small]
        [--resume] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import tempfile
from typing import Any, Mapping

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import _common  # noqa: E402
import tables  # noqa: E402

HEADING = "## MMoE and PLE on small tables"
INTRO = (
    "Why MMoE and PLE trailed hard sharing on the real tables above: one change at a time "
    "from each builder's default, on the splits and seeds of `benchmarks/tables.py` (every "
    "task labelled, width 32, 40 epochs, batch 32, Adam 0.01 unless the row says otherwise). "
    "Δm is against the single-task models, hard sharing and the architecture's default "
    "(MMoE or PLE), paired by seed. *Gate entropy*: each test sample's gate entropy over "
    "log(experts), averaged over samples, gates and seeds (1 = uniform mixing, 0 = one "
    "expert per sample); *max share*: the largest mean expert weight of a gate (1 / experts "
    "= balanced, 1 = collapsed), averaged the same way; *collapsed*: gates (task x seed) "
    "whose max share exceeds 0.95. For PLE these count the task gates of every level, "
    "each over the task's own and the shared expert. Reading and advice: "
    "[docs/architectures.md](docs/architectures.md#mmoe-and-ple-on-small-tables).")
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "mmoe_small")
UNITS = (32,)
EPOCHS = 40
BATCH_SIZE = 32
LEARNING_RATE = 0.01
ALPHA = 0.05
COLLAPSED = 0.95  # a gate giving one expert more than this mean share


# ------------------------------------------------------------ gate statistics
def gate_statistics(weights: Any) -> dict:
    """How a softmax gate spreads its samples over the experts.

    Args:
        weights: `(samples, experts)` gate outputs, each row non-negative and
            summing to 1, with at least 2 experts.

    Returns:
        `{"entropy": e, "shares": [s_1, ..., s_E], "max_share": max_j s_j}`:
        `e` is the mean over samples of the row's entropy divided by
        `log(E)` (1 when every sample mixes all experts equally, 0 when each
        sample uses one expert); `s_j` is expert `j`'s mean weight over the
        samples (`1 / E` each when balanced; a `max_share` near 1 means the
        gate collapsed onto one expert).

    Raises:
        ValueError: Not a 2-D array of at least one sample and two experts, or
            rows that are negative or do not sum to 1.
    """
    w = np.asarray(weights, dtype="float64")
    if w.ndim != 2 or w.shape[0] < 1 or w.shape[1] < 2:
        raise ValueError(
            "Expected gate weights of shape (samples >= 1, experts >= 2). Received: "
            f"shape={w.shape}")
    # float32 softmax rows sum to 1 within a few float32 ulps of 1.
    tolerance = 1e3 * np.finfo("float32").eps
    if np.any(w < 0) or np.any(np.abs(w.sum(axis=1) - 1.0) > tolerance):
        raise ValueError(
            "Expected each row of the gate weights to be non-negative and sum to 1. "
            f"Received row sums from {w.sum(axis=1).min():.6g} to {w.sum(axis=1).max():.6g} "
            f"and a smallest weight of {w.min():.6g}")
    logs = np.log(np.where(w > 0, w, 1.0))  # 0 log 0 = 0
    entropy = float(np.mean(-(w * logs).sum(axis=1)) / math.log(w.shape[1]))
    shares = w.mean(axis=0)
    return {"entropy": entropy, "shares": [float(s) for s in shares],
            "max_share": float(shares.max())}


def gate_outputs(model, dataset) -> dict[str, np.ndarray]:
    """Every gate's outputs over `dataset`, read from a trained MMoE or PLE model.

    A `keras.Model` from the trunk's inputs to the input tensors of its gated
    layers (`MMoE`, or each PLE level's `CGC`) gives, batch by batch, what
    each gate sees; the layer's own gates are then applied to it.

    Args:
        model: A `MultiTaskModel` from `build_mmoe` or `build_ple`.
        dataset: Batches of `(features, labels[, weights])`.

    Returns:
        `{key: (samples, experts) array}`: for MMoE `key` is the task name;
        for PLE it is `<level layer>/<task>` (task gates, over the task's own
        then the shared experts) and `<level layer>/shared` (the shared gate
        of every level but the last).

    Raises:
        ValueError: The trunk has no `MMoE` or `CGC` layer.
    """
    import keras

    from mtl_keras.layers.cgc import CGC
    from mtl_keras.layers.mmoe import MMoE

    gated = [layer for layer in model.trunk.layers if isinstance(layer, (MMoE, CGC))]
    if not gated:
        raise ValueError(
            "Expected a model with an MMoE or CGC (PLE) layer in its trunk. Received a trunk "
            f"of {[layer.name for layer in model.trunk.layers]}")
    # Keyed by layer: a one-output list would come back as the bare tensor.
    probe = keras.Model(model.trunk.input, {layer.name: layer.input for layer in gated})
    collected: dict[str, list] = {}
    for batch in dataset:
        seen = probe(batch[0], training=False)
        for layer in gated:
            for key, w in _gates(layer, seen[layer.name]):
                collected.setdefault(key, []).append(keras.ops.convert_to_numpy(w))
    return {key: np.concatenate(parts) for key, parts in collected.items()}


def _gates(layer, x):
    """`(key, gate output)` of each gate of one MMoE or CGC layer called on `x`."""
    from mtl_keras.layers.mmoe import MMoE

    if isinstance(layer, MMoE):
        return list(zip(layer.task_names, layer.gate_weights(x)))
    task_inputs, shared = (list(x[:-1]), x[-1]) if isinstance(x, (list, tuple)) \
        else ([x] * len(layer.task_names), x)
    out = [(f"{layer.name}/{name}", gate(t))
           for name, gate, t in zip(layer.task_names, layer.gates, task_inputs)]
    if layer.shared_gate is not None:
        out.append((f"{layer.name}/shared", layer.shared_gate(shared)))
    return out


# ---------------------------------------------------------------- variants
@dataclasses.dataclass(frozen=True)
class Variant:
    """One model setup: an architecture, its builder options and a learning rate."""

    name: str
    arch: str  # "hard", "mmoe" or "ple"
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    learning_rate: float = LEARNING_RATE
    cause: str = ""

    @property
    def default(self) -> str:
        """The name of the architecture's default setup, which this one changes one thing of."""
        return self.arch

    def build(self, data, tasks):
        import mtl_keras as mtl

        if self.arch == "hard":
            return mtl.build_hard_sharing(data.inputs(), mtl.backbones.mlp(UNITS), tasks,
                                          preprocessing=data.preprocessing(), **self.options)
        builder = {"mmoe": mtl.build_mmoe, "ple": mtl.build_ple}[self.arch]
        options = {"expert_units": UNITS, **self.options}
        return builder(data.inputs(), tasks, preprocessing=data.preprocessing(), **options)

    def fingerprint(self) -> dict:
        return {"arch": self.arch, "options": json.loads(json.dumps(dict(self.options))),
                "learning_rate": self.learning_rate, "units": list(UNITS)}


VARIANTS = [  # in the order they are trained: the likeliest causes first
    Variant("hard", "hard", cause="baseline"),
    Variant("mmoe", "mmoe", cause="default: 4 experts of (32,)"),
    Variant("mmoe_1expert", "mmoe", {"num_experts": 1}, cause="capacity: hard sharing's trunk"),
    Variant("mmoe_4x8", "mmoe", {"expert_units": (8,)},
            cause="capacity: hard sharing's trunk parameters"),
    Variant("mmoe_lr0.03", "mmoe", learning_rate=0.03, cause="learning rate"),
    Variant("mmoe_lr0.003", "mmoe", learning_rate=0.003, cause="learning rate"),
    Variant("mmoe_2experts", "mmoe", {"num_experts": 2}, cause="capacity"),
    Variant("mmoe_8experts", "mmoe", {"num_experts": 8}, cause="capacity"),
    Variant("mmoe_units16", "mmoe", {"expert_units": (16,)}, cause="capacity"),
    Variant("mmoe_units64", "mmoe", {"expert_units": (64,)}, cause="capacity"),
    Variant("hard_lr0.03", "hard", learning_rate=0.03, cause="learning rate (control)"),
    Variant("ple", "ple", cause="default: 2 levels, 1 task + 1 shared expert of (32,)"),
    Variant("ple_1level", "ple", {"num_levels": 1}, cause="capacity: depth (CGC)"),
    Variant("ple_lr0.003", "ple", learning_rate=0.003, cause="learning rate"),
    Variant("ple_units16", "ple", {"expert_units": (16,)}, cause="capacity"),
]
BY_NAME = {v.name: v for v in VARIANTS}


# -------------------------------------------------------------------- fits
def _metric(task) -> str:
    """The reported metric of `task`: its first, as `compare` reports it."""
    return task.make_metrics()[0].name[len(task.name) + 1:]


class Runner:
    """Trains (or reads from the cache) one fit per (table, seed, model)."""

    def __init__(self, directory: str, work_dir: str):
        self.directory = directory
        self.work_dir = work_dir  # the Wine CSVs, read again every epoch
        self.data: dict = {}

    def load(self, table, seed):
        if (table, seed) not in self.data:
            self.data[(table, seed)] = tables.TABLES[table](seed, self.work_dir)
        return self.data[(table, seed)]

    def path(self, table, seed, name):
        return os.path.join(self.directory, "fits", table, f"seed_{seed}", f"{name}.json")

    def fit(self, table, seed, variant, task=None) -> dict:
        """The record of `variant` (with one `task`: a single-task model) on `table`, `seed`."""
        from mtl_keras.evaluation.compare_fit import fit_once

        name = variant.name if task is None else f"single.{task}"
        data = self.load(table, seed)
        tasks = [t for t in data.tasks if task is None or t.name == task]
        settings = {"table": table, "seed": seed, "model": name,
                    "tasks": [t.name for t in tasks], **variant.fingerprint(),
                    "epochs": EPOCHS, "batch_size": BATCH_SIZE}
        path = self.path(table, seed, name)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                record = json.load(f)
            if record.get("settings") != settings:
                raise ValueError(
                    f"Expected the cached fit {path!r} to have the settings {settings}. "
                    f"Received {record.get('settings')}. Use another --results directory.")
            return record
        built = []

        def build(data, tasks):
            built.append(variant.build(data, tasks))
            return built[-1]

        record = fit_once(build, data, tasks, weighting=None, seed=seed, epochs=EPOCHS,
                          batch_size=BATCH_SIZE, learning_rate=variant.learning_rate,
                          patience=None)
        record["settings"] = settings
        if variant.arch != "hard":
            outputs = gate_outputs(built[-1], data.dataset("test", BATCH_SIZE))
            record["gates"] = {k: gate_statistics(w) if w.shape[1] >= 2 else None
                               for k, w in outputs.items()}
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".partial", "w", encoding="utf-8") as f:
            json.dump(record, f, indent=1)
        os.replace(path + ".partial", path)
        print(f"{table} seed {seed} {name}: {record['train_seconds']:.1f} s, best epoch "
              f"{record['best_epoch']}", flush=True)
        return record


# ------------------------------------------------------------------ report
def _scores(records, seeds, tasks, metrics):
    return {t: [records[s]["test"][f"{t}_{metrics[t]}"] for s in seeds] for t in tasks}


def _gate_summary(records, seeds):
    """Mean normalized entropy and mean largest expert share over task gates and seeds."""
    # Task gates only: a PLE shared gate mixes more experts than the task gates.
    stats = [g for s in seeds for k, g in (records[s].get("gates") or {}).items()
             if g and not k.endswith("/shared")]
    if not stats:
        return None
    return {"entropy": float(np.mean([g["entropy"] for g in stats])),
            "max_share": float(np.mean([g["max_share"] for g in stats])),
            "experts": len(stats[0]["shares"]), "gates": len(stats),
            "collapsed": sum(g["max_share"] > COLLAPSED for g in stats)}


def analyse(runner, table, seeds, names) -> dict:
    """Fits every model of `table` and returns its rows against single, hard and default."""
    from mtl_keras.evaluation.compare_stats import summarize_scores
    from mtl_keras.task_metrics import direction

    data = runner.load(table, seeds[0])
    tasks = [t.name for t in data.tasks]
    metrics = {t.name: _metric(t) for t in data.tasks}
    directions = {t: direction(m) for t, m in metrics.items()}
    single = {s: {"test": {}} for s in seeds}
    for task in tasks:
        for seed in seeds:
            single[seed]["test"].update(runner.fit(table, seed, BY_NAME["hard"], task)["test"])
    records = {"single": single}
    for name in names:
        records[name] = {seed: runner.fit(table, seed, BY_NAME[name]) for seed in seeds}
    scores = {name: _scores(r, seeds, tasks, metrics) for name, r in records.items()}
    against = {base: summarize_scores({base: scores[base], **{n: scores[n] for n in names
                                                              if n != base}},
                                      directions, base)
               for base in ("single", "hard", "mmoe", "ple") if base in scores}
    rows = {}
    for name in names:
        variant = BY_NAME[name]
        row = {"cause": variant.cause, "parameters": records[name][seeds[0]]["parameters"],
               "best_epoch": float(np.mean([records[name][s]["best_epoch"] for s in seeds])),
               "gates": _gate_summary(records[name], seeds)}
        for base, summary in against.items():
            if name != base and (base in ("single", "hard") or base == variant.default):
                row[base] = {"delta_m": summary[name]["delta_m_values"],
                             "test": summary[name]["delta_m"]}
        rows[name] = row
    return {"tasks": tasks, "metrics": metrics, "rows": rows}


def _cell(test) -> str:
    i = test.interval
    return f"{i.mean:+.2f} [{i.low:+.2f}, {i.high:+.2f}] p {test.t_pvalue:.3f}"


def _verdict(test) -> str:
    if not (math.isfinite(test.t_pvalue) and test.t_pvalue < ALPHA):
        return "tie"
    return "better" if test.interval.mean > 0 else "worse"


def report(results, names) -> str:
    """Markdown: one table per data set, then the pooled comparison with each default."""
    from mtl_keras._tables import format_table
    from mtl_keras.evaluation.compare_stats import paired_test

    blocks = []
    headers = ["model", "change", "params", "Δm vs single", "Δm vs hard", "Δm vs default",
               "gate entropy", "max share", "collapsed", "best epoch"]
    for table, result in results.items():
        rows = []
        for name in names:
            row = result["rows"][name]
            gates = row["gates"]
            rows.append([
                name, row["cause"], row["parameters"], _cell(row["single"]["test"]),
                _cell(row["hard"]["test"]) if "hard" in row else "",
                _cell(row[BY_NAME[name].default]["test"]) if BY_NAME[name].default in row
                else "",
                f"{gates['entropy']:.2f}" if gates else "",
                f"{gates['max_share']:.2f} of {gates['experts']}" if gates else "",
                f"{gates['collapsed']} of {gates['gates']}" if gates else "",
                f"{row['best_epoch']:.0f}"])
        blocks += [f"**{table}** (tasks: {', '.join(result['tasks'])}; Δm in %, mean "
                   "[95 % interval] and paired t-test p over the seeds)", "",
                   format_table(headers, rows, markdown=True,
                                align=["left", "left"] + ["right"] * 8), ""]
    rows = []
    for name in names:
        for base in dict.fromkeys(("single", "hard", BY_NAME[name].default)):
            per_table = [r["rows"][name].get(base) for r in results.values()]
            if name == base or any(p is None for p in per_table):
                continue
            pooled = paired_test([d for p in per_table for d in p["delta_m"]])
            rows.append([name, base, _cell(pooled), _verdict(pooled)])
    blocks += [f"Pooled over {' and '.join(results)} (one Δm per table and seed; verdict at "
               f"p < {ALPHA}):", "",
               format_table(["model", "against", "Δm % [95 %] p", "verdict"], rows,
                            markdown=True), ""]
    return "\n".join(blocks)


def _run(runner, table_names, seeds, names):
    # One variant at a time over every table and seed, so that an interrupted
    # run leaves whole rows.
    for name in names:
        for table in table_names:
            for seed in seeds:
                if name == "hard":
                    for task in [t.name for t in runner.load(table, seed).tasks]:
                        runner.fit(table, seed, BY_NAME["hard"], task)
                runner.fit(table, seed, BY_NAME[name])
    return {table: analyse(runner, table, seeds, names) for table in table_names}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tables", nargs="+", default=["wine", "penguins"], choices=list(tables.TABLES))
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--first-seed", type=int, default=200)
    p.add_argument("--variants", nargs="+", default=[v.name for v in VARIANTS if v.name != "hard"],
                   choices=[v.name for v in VARIANTS if v.name != "hard"])
    p.add_argument("--results", default=RESULTS)
    p.add_argument("--resume", action="store_true",
                   help="reuse the fits cached under --results (else it must hold none)")
    p.add_argument("--write", default=None, help="BENCHMARKS.md to update")
    args = p.parse_args(argv)
    if args.seeds < 2:
        p.error(f"Expected --seeds >= 2 (paired intervals need 2). Received: {args.seeds}")
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    fits = os.path.join(args.results, "fits")
    if not args.resume and os.path.isdir(fits) and os.listdir(fits):
        p.error(f"Expected an empty --results directory. Received {args.results!r} with cached "
                "fits: pass --resume to reuse them, or choose another directory.")
    names = ["hard"] + [n for n in args.variants]
    with tempfile.TemporaryDirectory(prefix="mmoe_small_") as work_dir:
        results = _run(Runner(args.results, work_dir), args.tables, seeds, names)
    text = report(results, names)
    print(text)
    with open(os.path.join(args.results, "summary.json"), "w", encoding="utf-8") as f:
        json.dump({"seeds": seeds, "epochs": EPOCHS, "batch_size": BATCH_SIZE,
                   "units": list(UNITS),
                   "tables": {t: {**r, "rows": {n: {k: (v if k not in ("single", "hard", "mmoe",
                                                                      "ple") else v["delta_m"])
                                                   for k, v in row.items()}
                                               for n, row in r["rows"].items()}}
                              for t, r in results.items()}}, f, indent=1)
    with open(os.path.join(args.results, "summary.md"), "w", encoding="utf-8") as f:
        f.write(text)
    if args.write:
        command = "python benchmarks/mmoe_small_tables.py " + " ".join(argv or sys.argv[1:])
        body = [HEADING, "", INTRO, "", f"Command: `{command.strip()}` "
                f"({_common.environment()}).", "", text]
        _common.write_section(args.write, HEADING, "\n".join(body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
