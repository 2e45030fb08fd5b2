"""The statistics of a paired comparison on fixed numbers, checked against hand computation.

Student-t quantiles are the tabulated values; p-values of the t-test come
from the closed-form t distribution functions of 2 and 3 degrees of freedom,
and Wilcoxon p-values from counting sign patterns (exact test).
"""

import math

import numpy as np
import pytest

from mtl_keras.evaluation.compare_stats import paired_test, summarize_scores, t_interval

T_975 = {1: 12.706205, 2: 4.302653, 3: 3.182446}  # Student t, 0.975 quantile, by df
T_95_DF3 = 2.353363


def two_sided_p(t, df):
    """Two-sided p of Student's t for df = 2 or 3, from the closed-form CDF."""
    t = abs(t)
    if df == 2:
        return 1.0 - t / math.sqrt(t * t + 2.0)
    if df == 3:
        u = t / math.sqrt(3.0)
        cdf = 0.5 + (u / (1.0 + u * u) + math.atan(u)) / math.pi
        return 2.0 * (1.0 - cdf)
    raise AssertionError(df)


def test_t_interval_by_hand():
    # mean 2.5; s^2 = (2.25 + 0.25 + 0.25 + 2.25) / 3 = 5/3; se = s / 2.
    se = math.sqrt(5.0 / 3.0) / 2.0
    got = t_interval([1.0, 2.0, 3.0, 4.0])
    assert got.mean == pytest.approx(2.5)
    assert got.low == pytest.approx(2.5 - T_975[3] * se, rel=1e-6)
    assert got.high == pytest.approx(2.5 + T_975[3] * se, rel=1e-6)
    assert got.n == 4 and got.confidence == 0.95
    narrower = t_interval([1.0, 2.0, 3.0, 4.0], confidence=0.9)
    assert narrower.half_width == pytest.approx(T_95_DF3 * se, rel=1e-6)


def test_t_interval_of_two_seeds_is_wide():
    # mean 0.9, s = 0.1 * sqrt(2), se = 0.1; t(0.975, 1) = 12.706.
    got = t_interval([0.8, 1.0])
    assert got.low == pytest.approx(0.9 - T_975[1] * 0.1, rel=1e-6)
    assert got.high == pytest.approx(0.9 + T_975[1] * 0.1, rel=1e-6)


def test_t_interval_of_constant_values_has_zero_width():
    got = t_interval([0.75, 0.75, 0.75])
    assert (got.mean, got.low, got.high) == (0.75, 0.75, 0.75)


@pytest.mark.parametrize("values", [[1.0], [], [[1.0, 2.0]]])
def test_t_interval_needs_two_values(values):
    with pytest.raises(ValueError, match="at least 2 values"):
        t_interval(values)


def test_t_interval_confidence_must_be_in_0_1():
    with pytest.raises(ValueError, match="confidence"):
        t_interval([1.0, 2.0], confidence=95)


def test_paired_test_all_positive():
    test = paired_test([1.0, 2.0, 3.0, 4.0])
    t = 2.5 / (math.sqrt(5.0 / 3.0) / 2.0)
    assert test.t_statistic == pytest.approx(t)
    assert test.t_pvalue == pytest.approx(two_sided_p(t, 3), rel=1e-6)
    # Wilcoxon: no negative difference, W- = 0; of the 2^4 sign patterns only
    # "all +" and "all -" are as extreme: p = 2 / 16.
    assert test.wilcoxon_statistic == 0.0
    assert test.wilcoxon_pvalue == pytest.approx(2.0 / 16.0)


def test_paired_test_mixed_signs():
    # Ranks of |d|: 1, 2, 3, 4; the negative one has rank 2, so W- = 2. Sign
    # patterns with a rank sum <= 2: {}, {1}, {2}: p = 2 * 3 / 16.
    test = paired_test([1.0, -2.0, 3.0, 4.0])
    assert test.wilcoxon_statistic == 2.0
    assert test.wilcoxon_pvalue == pytest.approx(6.0 / 16.0)
    mean = 1.5
    s = math.sqrt(((1 - mean) ** 2 + (-2 - mean) ** 2 + (3 - mean) ** 2 + (4 - mean) ** 2) / 3)
    assert test.t_statistic == pytest.approx(mean / (s / 2.0))
    assert test.interval.mean == pytest.approx(mean)


def test_paired_test_drops_zero_differences_from_wilcoxon():
    # Wilcoxon on [1, 2]: p = 2 / 2^2.
    assert paired_test([0.0, 1.0, 2.0]).wilcoxon_pvalue == pytest.approx(0.5)


def test_paired_test_identical_models():
    test = paired_test([0.0, 0.0, 0.0])
    assert test.t_pvalue == 1.0 and test.wilcoxon_pvalue == 1.0
    assert (test.interval.low, test.interval.high) == (0.0, 0.0)


def test_paired_test_constant_nonzero_difference():
    # The t statistic is undefined (no variance); Wilcoxon: 3 positive, p = 2 / 8.
    test = paired_test([0.1, 0.1, 0.1])
    assert math.isnan(test.t_statistic) and math.isnan(test.t_pvalue)
    assert test.wilcoxon_pvalue == pytest.approx(0.25)


def test_paired_test_with_a_diverged_seed_is_nan():
    test = paired_test([1.0, float("nan"), 2.0])
    assert math.isnan(test.interval.mean) and math.isnan(test.t_pvalue)


SCORES = {
    # seed 0: accuracy 0.80 -> 0.88 (+10 %), MAE 0.50 -> 0.40 (+20 %): Δm = +15
    # seed 1: accuracy 0.90 -> 0.90 (0 %),   MAE 0.40 -> 0.44 (-10 %): Δm = -5
    # seed 2: accuracy 0.50 -> 0.60 (+20 %), MAE 0.20 -> 0.20 (0 %):   Δm = +10
    "single": {"a": [0.80, 0.90, 0.50], "b": [0.50, 0.40, 0.20]},
    "multi": {"a": [0.88, 0.90, 0.60], "b": [0.40, 0.44, 0.20], "aux": [9.0, 9.0, 9.0]},
}
DIRECTIONS = {"a": "max", "b": "min"}


def test_summarize_scores_by_hand():
    out = summarize_scores(SCORES, DIRECTIONS, "single")
    assert set(out["single"]) == {"tasks"}
    assert out["single"]["tasks"]["b"].mean == pytest.approx(1.1 / 3.0)
    multi = out["multi"]
    assert multi["delta_m_values"] == pytest.approx([15.0, -5.0, 10.0])
    dm = multi["delta_m"]
    mean = 20.0 / 3.0
    s = math.sqrt(((15 - mean) ** 2 + (-5 - mean) ** 2 + (10 - mean) ** 2) / 2.0)
    se = s / math.sqrt(3.0)
    assert dm.interval.mean == pytest.approx(mean)
    assert dm.interval.high == pytest.approx(mean + T_975[2] * se, rel=1e-6)
    assert dm.t_statistic == pytest.approx(mean / se)
    assert dm.t_pvalue == pytest.approx(two_sided_p(mean / se, 2), rel=1e-6)
    # Ranks of |Δm|: 5 -> 1, 10 -> 2, 15 -> 3; W- = 1; patterns with a rank
    # sum <= 1: {}, {1}: p = 2 * 2 / 8.
    assert dm.wilcoxon_statistic == 1.0
    assert dm.wilcoxon_pvalue == pytest.approx(0.5)
    # Differences in the metric's units, model minus baseline (MAE: +0.04 is worse).
    np.testing.assert_allclose([multi["differences"]["b"].interval.mean],
                               [(-0.10 + 0.04 + 0.0) / 3.0])
    assert "aux" not in multi["tasks"]


def test_summarize_scores_zero_baseline_gives_nan_delta_m_for_that_seed():
    scores = {"single": {"a": [0.0, 0.5]}, "multi": {"a": [0.5, 0.6]}}
    out = summarize_scores(scores, {"a": "max"}, "single")
    assert math.isnan(out["multi"]["delta_m_values"][0])
    assert out["multi"]["delta_m_values"][1] == pytest.approx(20.0)


@pytest.mark.parametrize("scores, baseline, match", [
    (SCORES, "other", "baseline among the models"),
    ({"single": {"a": [0.1, 0.2]}, "multi": {"a": [0.1, 0.2]}}, "single", "without"),
    ({"single": {"a": [0.1, 0.2], "b": [1, 2]}, "multi": {"a": [0.1], "b": [1, 2]}}, "single",
     "as many scores"),
    ({"single": {"a": [0.1], "b": [1.0]}, "multi": {"a": [0.2], "b": [1.0]}}, "single",
     "at least 2 seeds"),
    ({"single": {"a": ["x", 0.2], "b": [1, 2]}, "multi": {"a": [0.1, 0.2], "b": [1, 2]}},
     "single", "Expected numbers"),
])
def test_summarize_scores_bad_input(scores, baseline, match):
    with pytest.raises(ValueError, match=match):
        summarize_scores(scores, DIRECTIONS, baseline)
