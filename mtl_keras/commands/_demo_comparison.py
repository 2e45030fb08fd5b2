"""The paired comparisons of `mtl-keras demo` and their verdicts in plain words.

Two settings on the bundled penguins, each `mtl_keras.evaluation.compare`
over several seeds (the birds are split anew per seed; every model of a seed
trains on that seed's split):

* **all labelled**: one single-task model per task against one hard-sharing
  model of the three tasks;
* **scarce labels**: one main task keeps only a fraction of its training
  labels (the validation and test birds keep theirs), the other two keep all
  of theirs and are trained as auxiliary tasks; a single-task model of the
  main task against hard sharing with equal weights and with gradient-cosine
  gating of the auxiliary gradients (GCS, Du et al., 2018).

Measured before choosing these defaults, on seeds 100-104 (never the demo's
seeds; MLP [32], 30 epochs): with sex labelled on 5, 10 or 15 % of the
training birds, body mass on 5, 10 or 15 %, or species on 10 %, hard sharing
with equal weights tied with the single-task model every time (every
interval contained 0), and so did OL-AUX (10 and 15 %) and GCS. GCS leaned
towards a gain only with sex at 10 % (+0.027 accuracy, p = 0.14; +0.043,
p = 0.09 with an MLP [64, 64]), at 2.5-3.5x the training time: that is the
default setting, and the demo reports what fresh seeds say about it.

Every fit is selected on the validation split (`val_task_loss_sum`, or
`val_main_task_loss_sum` with auxiliary tasks; best epoch restored); the test
split is only evaluated. `verdict` turns a paired difference into "helped",
"tied" or "lost"; `report` writes the table and the sentences.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from mtl_keras._tables import format_table
from mtl_keras._validators import check_choice, check_int, check_number

__all__ = ["DemoSettings", "report", "run_setting", "scarce_labels", "summary", "verdict"]

TASKS = ("species", "sex", "body_mass")
VERDICTS = ("helped", "tied", "lost", "undecided")
ALPHA = 0.05


@dataclasses.dataclass(frozen=True)
class DemoSettings:
    """Everything that decides the demo's comparisons (printed, so a run can be repeated).

    Args:
        seeds: Number of seeds, at least 2 (intervals and paired tests).
        first_seed: Seeds are `first_seed, ..., first_seed + seeds - 1`.
        epochs: Epochs of every fit (the best validation epoch is restored).
        units: Widths of the MLP backbone (shared, or of each single-task model).
        learning_rate: Adam's learning rate.
        batch_size: Training batch size.
        scarce_task: The main task of the scarce-label setting.
        fraction: Share of `scarce_task`'s labelled training birds that keep
            their label there, in (0, 1].
        gcs: Also compare hard sharing with GCS in the scarce-label setting.
    """

    seeds: int = 5
    first_seed: int = 0
    epochs: int = 30
    units: tuple = (32,)
    learning_rate: float = 0.01
    batch_size: int = 32
    scarce_task: str = "sex"
    fraction: float = 0.1
    gcs: bool = True

    def __post_init__(self):
        check_int(self.seeds, "seeds (intervals need at least 2)", min_value=2)
        check_int(self.first_seed, "first_seed", min_value=0)
        check_int(self.epochs, "epochs", min_value=1)
        if not self.units or not all(
                isinstance(u, int) and not isinstance(u, bool) and u >= 1 for u in self.units):
            raise ValueError(
                f"Expected units to be a non-empty tuple of integers >= 1. Received: "
                f"units={self.units!r}")
        check_number(self.learning_rate, "learning_rate", min_value=0, min_exclusive=True)
        check_int(self.batch_size, "batch_size", min_value=1)
        check_choice(self.scarce_task, "scarce_task", TASKS)
        check_number(self.fraction, "fraction", min_value=0, max_value=1, min_exclusive=True)
        if not isinstance(self.gcs, bool):
            raise ValueError(f"Expected gcs to be True or False. Received: gcs={self.gcs!r}")

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.seeds))

    def describe(self) -> str:
        """The settings in one line."""
        seeds = self.seed_list
        epochs = f"{self.epochs} epoch{'s' if self.epochs != 1 else ''}"
        return (f"seeds {seeds[0]}..{seeds[-1]} (a new 70/15/15 split of the birds per seed), "
                f"{epochs}, MLP {list(self.units)}, Adam {self.learning_rate:g}, "
                f"batch {self.batch_size}; every model selected on its validation loss (best "
                "epoch restored), the test split only evaluated")


def scarce_labels(data: Any, task: str, fraction: float, seed: int):
    """`data` with only `fraction` of `task`'s labelled training rows still labelled.

    The kept rows are a seeded random choice (`round(fraction * labelled)`,
    at least 1) among the training rows labelled for `task`; the others get
    the missing label (-1 for a class, NaN for a regression target). The
    validation and test splits and the other tasks are unchanged.

    Args:
        data: `mtl_keras.data.PenguinsData`.
        task: The task whose training labels become scarce.
        fraction: Share of its labelled training rows to keep, in (0, 1].
        seed: Seed of the choice.

    Returns:
        `(data, kept, labelled)`: the new data, and how many training rows of
        `task` keep a label out of how many had one.
    """
    import numpy as np

    from mtl_keras.data.penguins import Split

    check_number(fraction, "fraction", min_value=0, max_value=1, min_exclusive=True)
    labels = np.array(data.train.labels[task], copy=True)
    floating = labels.dtype.kind == "f"
    labelled = np.flatnonzero(np.isfinite(labels) if floating else labels >= 0)
    kept = max(1, int(round(fraction * len(labelled))))
    keep = np.random.default_rng([seed, 7]).choice(labelled, kept, replace=False)
    labels[np.setdiff1d(labelled, keep)] = np.nan if floating else -1
    train = Split(data.train.features, {**data.train.labels, task: labels})
    return dataclasses.replace(data, train=train), kept, len(labelled)


def _configurations(settings: DemoSettings, scarce: bool):
    """Hard sharing with equal weights over the MLP backbone (whose one-task
    version is the single-task model); with scarce labels also with GCS."""
    import mtl_keras as mtl
    from mtl_keras.evaluation import Configuration

    units = list(settings.units)

    def hard(data, tasks):
        return mtl.build_hard_sharing(data.inputs(), mtl.backbones.mlp(units), tasks,
                                      preprocessing=data.preprocessing())

    description = {"architecture": "hard_sharing", "units": units}
    configs = [Configuration("hard_sharing", hard, description=description)]
    if scarce and settings.gcs:
        configs.append(Configuration("hard_sharing_gcs", hard,
                                     weighting=mtl.weighting.GCS(mode="representation"),
                                     description=description))
    return configs


def run_setting(settings: DemoSettings, scarce: bool, verbose: int = 1):
    """Runs one setting's comparison; returns its `ComparisonResult`."""
    import mtl_keras as mtl
    from mtl_keras.evaluation import compare

    if scarce:
        main = settings.scarce_task
        others = [t for t in TASKS if t != main]

        def data(seed):
            return scarce_labels(mtl.data.load_penguins(seed=seed), main, settings.fraction,
                                 seed)[0]
        tasks, auxiliary = [main] + others, others
    else:
        def data(seed):
            return mtl.data.load_penguins(seed=seed)
        tasks, auxiliary = list(TASKS), []
    return compare(data, _configurations(settings, scarce), seeds=settings.seed_list,
                   tasks=tasks, auxiliary=auxiliary, epochs=settings.epochs,
                   batch_size=settings.batch_size, learning_rate=settings.learning_rate,
                   verbose=verbose)


def verdict(low: float, high: float, p_value: float, direction: str,
            alpha: float = ALPHA) -> str:
    """"helped", "tied" or "lost": what a paired difference (model - baseline) says.

    A tie unless the whole interval lies on one side of 0 and the paired test
    rejects "no difference" at level `alpha` (a NaN p-value, from differences
    that do not vary, counts as not rejecting). Otherwise the side of the
    interval and the metric's direction decide. A non-finite interval (a
    diverged run) is "undecided".

    Args:
        low, high: The interval of the mean difference.
        p_value: The paired test's p-value.
        direction: `"max"` (higher is better) or `"min"`.
        alpha: The test's level.

    Example:

    >>> verdict(0.01, 0.05, 0.01, "max"), verdict(0.01, 0.05, 0.01, "min")
    ('helped', 'lost')
    >>> verdict(-0.01, 0.05, 0.2, "max")
    'tied'
    """
    check_choice(direction, "direction", ("max", "min"))
    check_number(alpha, "alpha", min_value=0, max_value=1, min_exclusive=True,
                 max_exclusive=True)
    if not (math.isfinite(low) and math.isfinite(high)):
        return "undecided"
    if low > high:
        raise ValueError(
            f"Expected an interval with low <= high. Received: low={low!r}, high={high!r}")
    if low <= 0.0 <= high or not (math.isfinite(p_value) and p_value <= alpha):
        return "tied"
    better = low > 0.0 if direction == "max" else high < 0.0
    return "helped" if better else "lost"


def verdicts(result, alpha: float = ALPHA) -> list[dict]:
    """One entry per (model, main task) of a `ComparisonResult`, against its baseline.

    Returns:
        Dicts with `model`, `task`, `metric`, `direction`, `baseline` and
        `value` (the two test-metric `Interval`s), `difference` (the
        `PairedTest` of model - baseline) and `verdict` (see `verdict`).
    """
    entries = []
    for model in result.models[1:]:
        for task in result.tasks:
            test = result.summary[model]["differences"][task]
            direction = result.directions[task]
            entries.append({
                "model": model, "task": task, "metric": result.metrics[task],
                "direction": direction,
                "baseline": result.summary[result.baseline]["tasks"][task],
                "value": result.summary[model]["tasks"][task], "difference": test,
                "verdict": verdict(test.interval.low, test.interval.high, test.t_pvalue,
                                   direction, alpha)})
    return entries


def _cell(interval, signed=False):
    if not math.isfinite(interval.mean):
        return "nan"
    spec = "+.4f" if signed else ".4f"
    return (f"{interval.mean:{spec}} [{interval.low:{spec}}, {interval.high:{spec}}]")


def _p(p_value):
    if not math.isfinite(p_value):
        return "-"
    return "<0.001" if p_value < 0.001 else f"{p_value:.3f}"


_BETTER = {"max": "higher is better", "min": "lower is better"}


def table(result, alpha: float = ALPHA) -> str:
    """Per main task: the baseline's and each model's test metric, the paired
    difference, its p-value and the verdict."""
    level = f"{100 * result.confidence:g} %"
    rows = []
    by_task = {}
    for entry in verdicts(result, alpha):
        by_task.setdefault(entry["task"], []).append(entry)
    for task in result.tasks:
        entries = by_task[task]
        first = entries[0]
        rows.append([task, f"{first['metric']} ({_BETTER[first['direction']]})",
                     result.baseline, _cell(first["baseline"]), "", "", ""])
        for e in entries:
            rows.append(["", "", e["model"], _cell(e["value"]),
                         _cell(e["difference"].interval, signed=True),
                         _p(e["difference"].t_pvalue), e["verdict"]])
    return format_table(
        ["task", "test metric", "model", f"mean [{level} interval]",
         f"difference vs {result.baseline} [{level}]", "p (paired t)", "verdict"], rows)


def _sentence(e, baseline, level):
    test = e["difference"]
    numbers = (f"{e['baseline'].mean:.4f} -> {e['value'].mean:.4f}, difference "
               f"{test.interval.mean:+.4f}, {level} interval [{test.interval.low:+.4f}, "
               f"{test.interval.high:+.4f}], p = {_p(test.t_pvalue)}")
    what = f"{e['task']} {e['metric']} ({_BETTER[e['direction']]})"
    if e["verdict"] == "helped":
        return f"{e['model']} HELPED on {what}: {numbers}."
    if e["verdict"] == "lost":
        return f"{e['model']} LOST on {what}: {numbers}."
    if e["verdict"] == "undecided":
        return f"{e['model']} on {what}: no verdict, a run gave a non-finite score."
    return f"{e['model']} TIED with {baseline} on {what}: {numbers}; no clear difference."


def _ratio_words(ratio, fewer, more):
    if ratio < 1.0:
        return f"{ratio:.2f}x ({100 * (1 - ratio):.0f} % {fewer})"
    return f"{ratio:.2f}x ({100 * (ratio - 1):.0f} % {more})"


def cost_lines(result) -> list[str]:
    """What each model saved or cost against the baseline: parameters and training time."""
    base = result.costs[result.baseline]
    count = len(result.tasks)
    base_name = (f"the {count} {result.baseline} models" if count > 1
                 else f"the {result.baseline} model")
    extra = f"; it also trains {', '.join(result.auxiliary)}" if result.auxiliary else ""

    def mean(values):
        return sum(values) / len(values)

    lines = []
    for model in result.models[1:]:
        cost = result.costs[model]
        params = cost["parameters"] / base["parameters"]
        seconds = mean(cost["train_seconds"]) / mean(base["train_seconds"])
        lines.append(
            f"{model}: {cost['parameters']} parameters against {base['parameters']} for "
            f"{base_name}: {_ratio_words(params, 'fewer', 'more')}; training "
            f"{mean(cost['train_seconds']):.1f} s against {mean(base['train_seconds']):.1f} s "
            f"per seed: {_ratio_words(seconds, 'less time', 'more time')}{extra}.")
    return lines


def report(result, alpha: float = ALPHA) -> str:
    """The table, one plain sentence per (model, task), the tally and the cost."""
    level = f"{100 * result.confidence:g} %"
    entries = verdicts(result, alpha)
    lines = [table(result, alpha), "",
             f"In plain words (a difference counts only if its {level} interval excludes 0 "
             f"and the paired t-test gives p <= {alpha:g}; {len(result.seeds)} seeds):"]
    lines += [f"  {_sentence(e, result.baseline, level)}" for e in entries]
    tally = {v: [f"{e['task']} ({e['model']})" for e in entries if e["verdict"] == v]
             for v in VERDICTS}
    lines.append("  In short: sharing helped on " + (", ".join(tally["helped"]) or "nothing")
                 + "; tied on " + (", ".join(tally["tied"]) or "nothing")
                 + "; lost on " + (", ".join(tally["lost"]) or "nothing") + ".")
    lines.append("What sharing saved or cost (parameters, training time):")
    lines += [f"  {line}" for line in cost_lines(result)]
    return "\n".join(lines)


def summary(result, label: str, alpha: float = ALPHA) -> str:
    """One line: the verdict counts of a comparison and how large a difference it could see.

    Args:
        result: A `ComparisonResult`.
        label: What was compared, to start the line.
        alpha: The paired test's level.
    """
    entries = verdicts(result, alpha)
    counts = ", ".join(f"{v} {sum(e['verdict'] == v for e in entries)}" for v in VERDICTS[:3])
    widths = ", ".join(f"{e['task']} ({e['model']}) ±{e['difference'].interval.half_width:.3f}"
                       for e in entries)
    return (f"{label}: of {len(entries)} model-task comparisons, {counts}. Half-widths of the "
            f"{100 * result.confidence:g} % intervals of the differences: {widths}; smaller "
            f"effects cannot be told from noise with {len(result.seeds)} seeds.")
