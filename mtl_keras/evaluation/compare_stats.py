"""The statistics of a paired comparison: t-intervals, paired tests, Δm per seed.

Pure functions of per-seed numbers (no training), so every figure a
comparison reports can be checked by hand:

* `t_interval`: the mean and its two-sided Student-t confidence interval,
  `mean ± t_{(1+c)/2, n-1} * s / sqrt(n)` with the sample standard deviation
  `s` (ddof = 1), over `n >= 2` seeds.
* `paired_test`: tests of per-seed differences against zero, the paired
  t-test (`scipy.stats.ttest_1samp` of the differences, which is
  `ttest_rel`) and the Wilcoxon signed-rank test (`scipy.stats.wilcoxon`,
  zero differences dropped, exact for small samples).
* `summarize_scores`: per model and main task the interval of its metric;
  per model beside the baseline the paired difference per task and Δm per
  seed (Maninis et al., CVPR 2019, `mtl_keras.evaluation.delta_m`) with its
  interval and paired tests.

Seeds pair the numbers: entry `i` of every list comes from the same seed (or
fold), hence the same data split, for every model.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import warnings
from typing import Mapping, Sequence

import numpy as np

from mtl_keras._validators import check_number
from mtl_keras.evaluation.delta_m import delta_m

__all__ = ["Interval", "PairedTest", "paired_test", "summarize_scores", "t_interval"]


@dataclasses.dataclass(frozen=True)
class Interval:
    """A mean over seeds and its confidence interval `[low, high]`."""

    mean: float
    low: float
    high: float
    n: int
    confidence: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2.0


@dataclasses.dataclass(frozen=True)
class PairedTest:
    """Paired tests of per-seed differences `d_i` (model minus baseline) against 0.

    Attributes:
        interval: Mean difference and its t-interval.
        t_statistic, t_pvalue: Paired t-test (two-sided). NaN when the
            differences do not vary (the statistic is undefined).
        wilcoxon_statistic, wilcoxon_pvalue: Wilcoxon signed-rank test
            (two-sided; the smaller rank sum). NaN when every difference is 0.
    """

    interval: Interval
    t_statistic: float
    t_pvalue: float
    wilcoxon_statistic: float
    wilcoxon_pvalue: float


def _as_vector(values: Sequence[float], what: str) -> np.ndarray:
    array = np.asarray(values, dtype="float64")
    if array.ndim != 1 or len(array) < 2:
        raise ValueError(
            f"Expected at least 2 values of {what} (one per seed) for an interval. "
            f"Received: {np.ravel(array).tolist()}")
    return array


def t_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """The mean of `values` and its Student-t confidence interval.

    Args:
        values: One number per seed (at least 2). Non-finite values give a
            non-finite interval (a diverged run), not an error.
        confidence: Coverage of the interval, in (0, 1).

    Returns:
        An `Interval`: `mean ± t * s / sqrt(n)`, `t` the `(1 + confidence) / 2`
        quantile of Student's t with `n - 1` degrees of freedom.

    Raises:
        ValueError: Fewer than 2 values, or a confidence outside (0, 1).

    Example:

    >>> # mean 2.5, s = sqrt(5/3), t(0.975, 3) = 3.1824: 2.5 ± 2.0543
    >>> i = t_interval([1.0, 2.0, 3.0, 4.0])
    >>> round(i.mean, 4), round(i.low, 4), round(i.high, 4)
    (2.5, 0.4457, 4.5543)
    """
    from scipy import stats

    check_number(confidence, "confidence", min_value=0, max_value=1, min_exclusive=True,
                 max_exclusive=True)
    x = _as_vector(values, "the metric")
    n = len(x)
    mean = float(np.mean(x))
    half = float(stats.t.ppf((1.0 + confidence) / 2.0, n - 1) * np.std(x, ddof=1) / math.sqrt(n))
    return Interval(mean, mean - half, mean + half, n, float(confidence))


def paired_test(differences: Sequence[float], confidence: float = 0.95) -> PairedTest:
    """Paired t-test and Wilcoxon signed-rank test of per-seed differences against 0.

    Args:
        differences: One difference per seed, model minus baseline (or any
            per-seed quantity already relative to the baseline, such as Δm).
        confidence: Coverage of the interval of the mean difference.

    Returns:
        A `PairedTest`.

    Raises:
        ValueError: Fewer than 2 differences.

    Example:

    >>> # 4 positive differences: t = 2.5 / (sqrt(5/3) / 2) = 3.873; the
    >>> # exact Wilcoxon p is 2 / 2**4 (all signs positive, two-sided).
    >>> test = paired_test([1.0, 2.0, 3.0, 4.0])
    >>> round(test.t_statistic, 3), round(test.wilcoxon_pvalue, 4)
    (3.873, 0.125)
    """
    from scipy import stats

    d = _as_vector(differences, "the paired differences")
    interval = t_interval(d, confidence)
    if not np.all(np.isfinite(d)):
        nan = float("nan")
        return PairedTest(interval, nan, nan, nan, nan)
    scale = float(np.max(np.abs(d)))
    if scale == 0.0:  # identical models on every seed: nothing to test.
        return PairedTest(interval, 0.0, 1.0, float("nan"), 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (near-)constant differences
        if float(np.max(np.abs(d - d.mean()))) <= 1e-12 * scale:
            t_stat, t_p = float("nan"), float("nan")
        else:
            result = stats.ttest_1samp(d, 0.0)
            t_stat, t_p = float(result.statistic), float(result.pvalue)
        signed = stats.wilcoxon(d[d != 0.0]) if np.count_nonzero(d) > 0 else None
    return PairedTest(interval, t_stat, t_p, float(signed.statistic), float(signed.pvalue))


def _check_scores(scores, directions, baseline):
    if baseline not in scores:
        raise ValueError(
            f"Expected the baseline among the models {list(scores)}. Received: "
            f"baseline={baseline!r}")
    tasks = list(directions)
    lengths = set()
    for model, by_task in scores.items():
        missing = [t for t in tasks if t not in by_task]
        if missing:
            raise ValueError(
                f"Expected scores of every task {tasks} for every model. Received: "
                f"{model!r} without {missing}")
        for task in tasks:
            values = list(by_task[task])
            if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
                raise ValueError(
                    f"Expected numbers (NaN for a diverged run) as the scores of {model!r} "
                    f"on {task!r}. Received: {values!r}")
            lengths.add(len(values))
    if len(lengths) != 1:
        raise ValueError(
            "Expected as many scores (one per seed) for every model and task. Received "
            f"lengths {sorted(lengths)}")
    return tasks, lengths.pop()


def summarize_scores(scores: Mapping[str, Mapping[str, Sequence[float]]],
                     directions: Mapping[str, str], baseline: str,
                     confidence: float = 0.95) -> dict:
    """Intervals, paired differences and Δm of every model against `baseline`.

    Args:
        scores: `{model: {task: [metric per seed]}}`, seeds in the same order
            for every model (entry `i` of every list from seed `i`).
        directions: `{task: "max" | "min"}` for the main tasks to summarize
            (other keys of `scores` are ignored).
        baseline: The model the others are compared with (single-task).
        confidence: Coverage of the intervals.

    Returns:
        `{model: {"tasks": {task: Interval}, "differences": {task: PairedTest},
        "delta_m": PairedTest, "delta_m_values": [Δm per seed]}}`; the baseline
        has only `"tasks"`. Differences are model minus baseline in the
        metric's units, whatever its direction; Δm is in percent, positive
        when the model is better.

    Raises:
        ValueError: A missing baseline or task, non-numbers, lists of
            different lengths, or fewer than 2 seeds.

    Example:

    >>> scores = {"single": {"a": [0.80, 0.90]}, "multi": {"a": [0.88, 0.99]}}
    >>> out = summarize_scores(scores, {"a": "max"}, "single")
    >>> [round(v, 6) for v in out["multi"]["delta_m_values"]]   # +10 % on each seed
    [10.0, 10.0]
    """
    tasks, n = _check_scores(scores, directions, baseline)
    if n < 2:
        raise ValueError(
            f"Expected at least 2 seeds (or folds) per model for intervals and paired "
            f"tests. Received: {n}")
    base = {t: np.asarray(scores[baseline][t], "float64") for t in tasks}
    summary = {}
    for model, by_task in scores.items():
        values = {t: np.asarray(by_task[t], "float64") for t in tasks}
        entry = {"tasks": {t: t_interval(values[t], confidence) for t in tasks}}
        if model != baseline:
            entry["differences"] = {t: paired_test(values[t] - base[t], confidence)
                                    for t in tasks}
            per_seed = [_delta_m_or_nan({t: float(values[t][i]) for t in tasks},
                                        {t: float(base[t][i]) for t in tasks},
                                        {t: directions[t] for t in tasks})
                        for i in range(n)]
            entry["delta_m_values"] = per_seed
            entry["delta_m"] = paired_test(per_seed, confidence)
        summary[model] = entry
    return summary


def _delta_m_or_nan(values, baselines, directions) -> float:
    """Δm of one seed; NaN when a baseline is 0 or not finite (Δm undefined)."""
    if any(not (math.isfinite(b) and b != 0.0) for b in baselines.values()):
        return float("nan")
    return delta_m(values, baselines, directions)
