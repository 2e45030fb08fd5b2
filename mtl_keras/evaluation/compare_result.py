"""`ComparisonResult`: what `mtl.evaluation.compare` returns, as tables, JSON and a plot."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any, Mapping, Sequence

from mtl_keras._tables import format_table
from mtl_keras.evaluation.compare_stats import Interval, PairedTest, summarize_scores

__all__ = ["ComparisonResult"]

_ARROW = {"max": "(higher is better)", "min": "(lower is better)"}
_SIGNIFICANCE = 0.05


def _nan_to_none(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(v) for v in value]
    return value


def _none_to_nan(values):
    return [float("nan") if v is None else float(v) for v in values]


def _interval_cell(interval: Interval, digits: int, signed: bool = False) -> str:
    if not math.isfinite(interval.mean):
        return "nan"
    spec = f"{'+' if signed else ''}.{digits}f"
    return (f"{format(interval.mean, spec)} [{format(interval.low, spec)}, "
            f"{format(interval.high, spec)}]")


def _p_cell(p: float) -> str:
    if not math.isfinite(p):
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


class ComparisonResult:
    """Per-seed test metrics and costs of single-task and multi-task models.

    Built by `mtl.evaluation.compare`; rebuilt from `to_dict()` by
    `from_dict`. The statistics (`summary`) are recomputed from the raw
    per-seed numbers by `summarize_scores`.

    Args:
        tasks: The main tasks, in order (auxiliary tasks are not reported).
        metrics: `{task: metric}`: the test metric reported per task.
        directions: `{task: "max" | "min"}`: how each metric improves.
        seeds: The seeds (or folds), in the order of the per-seed lists.
        scores: `{model: {task: [test metric per seed]}}`; the first model is
            the baseline.
        costs: `{model: {"parameters": int, "train_seconds": [...],
            "latency_ms": [...]}}`, per seed. For the baseline these add up
            the single-task models (one per main task).
        auxiliary: Tasks trained by the multi-task models but not reported.
        settings: The training settings, recorded for the JSON.
        confidence: Coverage of the intervals.
    """

    def __init__(self, tasks: Sequence[str], metrics: Mapping[str, str],
                 directions: Mapping[str, str], seeds: Sequence[int],
                 scores: Mapping[str, Mapping[str, Sequence[float]]],
                 costs: Mapping[str, Mapping[str, Any]], auxiliary: Sequence[str] = (),
                 settings: Mapping[str, Any] | None = None, confidence: float = 0.95):
        self.tasks = list(tasks)
        self.metrics = dict(metrics)
        self.directions = dict(directions)
        self.seeds = list(seeds)
        self.scores = {m: {t: [float(v) for v in s[t]] for t in self.tasks}
                       for m, s in scores.items()}
        self.costs = {m: dict(c) for m, c in costs.items()}
        self.auxiliary = list(auxiliary)
        self.settings = dict(settings or {})
        self.confidence = float(confidence)
        self.models = list(self.scores)
        if not self.models:
            raise ValueError("Expected the scores of at least one model. Received: none.")
        self.baseline = self.models[0]
        self.summary = summarize_scores(self.scores, {t: self.directions[t] for t in self.tasks},
                                        self.baseline, self.confidence)

    # ------------------------------------------------------------- queries
    def delta_m(self, model: str) -> PairedTest:
        """Δm (%) of `model` against the baseline: mean, interval and paired tests."""
        self._check_model(model, allow_baseline=False)
        return self.summary[model]["delta_m"]

    def verdict(self, model: str, alpha: float = _SIGNIFICANCE) -> str:
        """`"better"`, `"worse"` or `"tie"`: Δm's paired t-test at level `alpha`."""
        test = self.delta_m(model)
        if not (math.isfinite(test.t_pvalue) and test.t_pvalue < alpha):
            return "tie"
        return "better" if test.interval.mean > 0 else "worse"

    def _check_model(self, model, allow_baseline=True):
        names = self.models if allow_baseline else self.models[1:]
        if model not in names:
            raise ValueError(f"Expected a model among {names}. Received: model={model!r}")

    # -------------------------------------------------------------- tables
    def table(self, markdown: bool = False) -> str:
        """Three tables (metrics, paired differences, cost) and one line per model.

        Args:
            markdown: Markdown tables instead of plain text.
        """
        level = f"{100 * self.confidence:g} %"
        n = len(self.seeds)
        blocks = [f"Test metrics: mean [{level} interval] over {n} seeds, epochs selected on "
                  "the validation split"]
        headers = ["model"] + [f"{t} {self.metrics[t]} {_ARROW[self.directions[t]]}"
                               for t in self.tasks]
        rows = [[m] + [_interval_cell(self.summary[m]["tasks"][t], 4) for t in self.tasks]
                for m in self.models]
        blocks.append(format_table(headers, rows, markdown=markdown))
        blocks.append(f"Against {self.baseline}, paired by seed (difference = model - "
                      f"{self.baseline}; Δm in %, positive is better)")
        rows = []
        for m in self.models[1:]:
            entry = self.summary[m]
            test = entry["delta_m"]
            rows.append([m, "Δm (%)", _interval_cell(test.interval, 2, signed=True),
                         _p_cell(test.t_pvalue), _p_cell(test.wilcoxon_pvalue)])
            for t in self.tasks:
                test = entry["differences"][t]
                rows.append(["", f"{t} {self.metrics[t]}",
                             _interval_cell(test.interval, 4, signed=True),
                             _p_cell(test.t_pvalue), _p_cell(test.wilcoxon_pvalue)])
        blocks.append(format_table(
            ["model", "quantity", f"difference [{level}]", "p (paired t)", "p (Wilcoxon)"],
            rows, markdown=markdown))
        blocks.append("Cost: parameters, training time (s, mean over seeds), serving latency "
                      f"of one batch (ms, median){self._baseline_cost_note()}")
        rows = [[m, self.costs[m]["parameters"], _mean_cell(self.costs[m]["train_seconds"], 1),
                 _mean_cell(self.costs[m]["latency_ms"], 2)] for m in self.models]
        blocks.append(format_table(["model", "parameters", "train (s)", "latency (ms)"], rows,
                                   markdown=markdown, align=["left", "right", "right", "right"]))
        blocks.append("\n".join(self._verdict_line(m) for m in self.models[1:]))
        if self.auxiliary:
            blocks.append(f"Auxiliary tasks (trained, not reported): {', '.join(self.auxiliary)}")
        return "\n\n".join(b for b in blocks if b)

    def _baseline_cost_note(self):
        if len(self.tasks) < 2:
            return ""
        return f"; {self.baseline} adds up its {len(self.tasks)} models"

    def _verdict_line(self, model):
        test = self.delta_m(model)
        verdict = self.verdict(model)
        words = {"better": "better than", "worse": "worse than",
                 "tie": "no clear difference from"}[verdict]
        return (f"{model}: {words} {self.baseline} (Δm {test.interval.mean:+.2f} %, "
                f"{100 * self.confidence:g} % interval [{test.interval.low:+.2f}, "
                f"{test.interval.high:+.2f}], paired t-test p = {_p_cell(test.t_pvalue)}); "
                f"{_ratio(self.costs[model], self.costs[self.baseline])}")

    def __str__(self):
        return self.table()

    # ---------------------------------------------------------- saving
    def to_dict(self) -> dict:
        """A JSON-ready dict: raw per-seed numbers, settings and the derived statistics.

        Non-finite numbers are written as `None` (strict JSON).
        """
        summary = {}
        for model, entry in self.summary.items():
            item = {"tasks": {t: dataclasses.asdict(i) for t, i in entry["tasks"].items()}}
            if "delta_m" in entry:
                item["differences"] = {t: dataclasses.asdict(p)
                                       for t, p in entry["differences"].items()}
                item["delta_m"] = dataclasses.asdict(entry["delta_m"])
                item["delta_m_values"] = list(entry["delta_m_values"])
                item["verdict"] = self.verdict(model)
            summary[model] = item
        return _nan_to_none({
            "tasks": self.tasks, "metrics": self.metrics, "directions": self.directions,
            "auxiliary": self.auxiliary, "seeds": self.seeds, "baseline": self.baseline,
            "confidence": self.confidence, "settings": self.settings, "scores": self.scores,
            "costs": self.costs, "summary": summary,
        })

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> "ComparisonResult":
        """Rebuilds a result from `to_dict()` (the summary is recomputed)."""
        required = ("tasks", "metrics", "directions", "seeds", "scores", "costs")
        missing = [k for k in required if k not in config]
        if missing:
            raise ValueError(
                f"Expected a comparison dict with keys {list(required)}. Received one "
                f"without {missing}")
        scores = {m: {t: _none_to_nan(v) for t, v in s.items()}
                  for m, s in config["scores"].items()}
        return cls(config["tasks"], config["metrics"], config["directions"], config["seeds"],
                   scores, config["costs"], auxiliary=config.get("auxiliary", ()),
                   settings=config.get("settings"), confidence=config.get("confidence", 0.95))

    def save(self, path: str | os.PathLike) -> str:
        """Writes `to_dict()` as JSON to `path`; returns `path` as a string."""
        path = os.fspath(path)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=1, allow_nan=False)
            f.write("\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ComparisonResult":
        """Reads a result written by `save`."""
        with open(os.fspath(path), encoding="utf-8") as f:
            return cls.from_dict(json.load(f))

    # ------------------------------------------------------------ plotting
    def plot(self, path: str | os.PathLike, title: str | None = None) -> str:
        """Per-task bars with their intervals, and Δm, to a PNG (matplotlib Agg).

        One panel per main task (one bar per model, the error bar its
        interval over seeds) and one panel of Δm against the baseline.

        Returns:
            `path`, as a string.
        """
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure

        panels = len(self.tasks) + 1
        figure = Figure(figsize=(3.2 * panels, 3.8), dpi=100)
        axes = figure.subplots(1, panels, squeeze=False)[0]
        colors = [f"C{i % 10}" for i in range(len(self.models))]
        for ax, task in zip(axes, self.tasks):
            intervals = [self.summary[m]["tasks"][task] for m in self.models]
            _bars(ax, self.models, intervals, colors)
            ax.set_title(f"{task} {self.metrics[task]}\n{_ARROW[self.directions[task]]}",
                         fontsize=9)
        others = self.models[1:]
        _bars(axes[-1], others, [self.summary[m]["delta_m"].interval for m in others],
              colors[1:])
        axes[-1].axhline(0.0, color="black", linewidth=0.8)
        axes[-1].set_title(f"Δm vs {self.baseline} (%)\n(higher is better)", fontsize=9)
        figure.suptitle(title or f"Mean and {100 * self.confidence:g} % interval over "
                        f"{len(self.seeds)} seeds", fontsize=10)
        figure.tight_layout()
        path = os.fspath(path)
        figure.savefig(path)
        return path


def _bars(ax, labels, intervals, colors):
    means = [i.mean for i in intervals]
    errors = [[i.mean - i.low for i in intervals], [i.high - i.mean for i in intervals]]
    ax.bar(range(len(labels)), means, yerr=errors, color=colors, capsize=3)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
    finite = [v for i in intervals for v in (i.low, i.high) if math.isfinite(v)]
    if finite and min(finite) > 0:  # zoom on the differences, not on the bars' base
        low, high = min(finite), max(finite)
        margin = 0.15 * (high - low) or 0.05 * high
        ax.set_ylim(max(0.0, low - margin), high + margin)


def _mean_cell(values, digits):
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return f"{sum(finite) / len(finite):.{digits}f}" if finite else "-"


def _ratio(cost, base):
    def mean(values):
        return sum(values) / len(values)

    return (f"{cost['parameters'] / base['parameters']:.2f}x the parameters, "
            f"{mean(cost['train_seconds']) / mean(base['train_seconds']):.2f}x the training "
            f"time, {mean(cost['latency_ms']) / mean(base['latency_ms']):.2f}x the latency")
