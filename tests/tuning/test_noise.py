"""`check_against_reference`: the tuned-vs-equal verdict on fixed numbers, by hand."""

import math

import pytest

from mtl_keras.tuning.noise import check_against_reference


def p_df2(t):
    """Two-sided p of Student's t with 2 degrees of freedom (closed form)."""
    return 1.0 - abs(t) / math.sqrt(t * t + 2.0)


def test_a_consistent_gain_beats_the_reference():
    # Gains 2, 2.5, 1.5: mean 2, s = 0.5, t = 2 / (0.5 / sqrt(3)) = 6.928, p = 0.0202.
    check = check_against_reference([2.0, 2.5, 1.5], [0.0, 0.0, 0.0])
    t = 2.0 / (0.5 / math.sqrt(3.0))
    assert check.improvement.t_statistic == pytest.approx(t)
    assert check.improvement.t_pvalue == pytest.approx(p_df2(t), rel=1e-6)
    assert check.beats
    assert check.text().startswith("tuned weights beat equal weights beyond seed-to-seed noise")


def test_a_noisy_gain_does_not():
    # Gains 2, -1, 1.5: mean 5/6, s^2 = 31/12, t = 0.898, p = 0.464.
    check = check_against_reference([2.0, -1.0, 1.5], [0.0, 0.0, 0.0])
    t = (5.0 / 6.0) / math.sqrt(31.0 / 12.0 / 3.0)
    assert check.improvement.t_pvalue == pytest.approx(p_df2(t), rel=1e-6)
    assert not check.beats
    assert check.text().endswith("keeping equal weights.")
    assert "did not beat" in check.text()


def test_lower_is_better():
    # MAE 0.40, 0.42, 0.41 against 0.45, 0.46, 0.47: gains 0.05, 0.04, 0.06,
    # mean 0.05, s = 0.01, t = 8.66, p = 0.0131.
    check = check_against_reference([0.40, 0.42, 0.41], [0.45, 0.46, 0.47], "min")
    assert check.improvement.interval.mean == pytest.approx(0.05)
    t = 0.05 / (0.01 / math.sqrt(3.0))
    assert check.improvement.t_pvalue == pytest.approx(p_df2(t), rel=1e-5)
    assert check.beats
    # The same numbers read as "higher is better": significantly worse, not a win.
    worse = check_against_reference([0.40, 0.42, 0.41], [0.45, 0.46, 0.47], "max")
    assert worse.improvement.t_pvalue < 0.05 and not worse.beats


def test_identical_runs_do_not_beat():
    check = check_against_reference([1.0, 1.0], [1.0, 1.0])
    assert not check.beats and check.improvement.t_pvalue == 1.0


def test_a_constant_gain_has_no_t_test_and_does_not_count_as_a_win():
    check = check_against_reference([1.5, 1.5, 1.5], [1.0, 1.0, 1.0])
    assert not check.beats
    assert "p = undefined (no variation)" in check.text()


@pytest.mark.parametrize("args, kwargs, match", [
    (([1.0, 2.0], [1.0]), {}, "same execution seeds"),
    (([1.0], [1.0]), {}, "at least 2"),
    (([1.0, 2.0], [1.0, 1.0]), {"direction": "up"}, "direction"),
    (([1.0, 2.0], [1.0, 1.0]), {"alpha": 1.5}, "alpha"),
])
def test_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_against_reference(*args, **kwargs)
