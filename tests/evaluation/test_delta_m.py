"""`delta_m`: hand-computed values, the three ways of passing metrics, and bad input."""

import math

import numpy as np
import pytest

import mtl_keras as mtl
from mtl_keras.evaluation import delta_m


def test_hand_computed_mixed_directions():
    # accuracy 0.9 vs 0.75: +20 %; MAE 0.3 vs 0.4: 25 % better (+25 %);
    # loss 1.1 vs 1.0: 10 % worse (-10 %). Mean: (20 + 25 - 10) / 3 = 35 / 3.
    got = delta_m([0.9, 0.3, 1.1], [0.75, 0.4, 1.0], ["max", "min", "min"])
    assert got == pytest.approx(35.0 / 3.0)


def test_equal_to_the_baselines_is_zero_and_one_task_is_its_relative_change():
    assert delta_m([0.5, 2.0], [0.5, 2.0], ["max", "min"]) == 0.0
    assert delta_m([0.6], [0.5], ["max"]) == pytest.approx(20.0)
    assert delta_m([0.6], [0.5], ["min"]) == pytest.approx(-20.0)


def test_mappings_are_matched_by_key_not_order():
    values = {"sex_accuracy": 0.8, "body_mass_mae": 0.25}
    baselines = {"body_mass_mae": 0.5, "sex_accuracy": 1.0, "unused": 3.0}
    directions = {"sex_accuracy": "max", "body_mass_mae": "min"}
    # (0.8 - 1) / 1 = -20 %; -(0.25 - 0.5) / 0.5 = +50 %. Mean +15 %.
    assert delta_m(values, baselines, directions) == pytest.approx(15.0)
    # One direction for every metric, keyed by the values.
    assert delta_m({"left": 88.0, "right": 54.0}, {"left": 80.0, "right": 60.0}, "max") == \
        pytest.approx((10.0 - 10.0) / 2)


def test_numpy_scalars_and_a_negative_baseline():
    got = delta_m(np.array([0.9], "float32"), [np.float64(0.6)], ["max"])
    assert got == pytest.approx(50.0, rel=1e-6)
    # The formula divides by B itself: (-1 - (-2)) / -2 = -50 %.
    assert delta_m([-1.0], [-2.0], ["max"]) == pytest.approx(-50.0)


def test_a_nan_value_gives_nan_not_an_error():
    assert math.isnan(delta_m([float("nan"), 0.5], [1.0, 0.5], ["max", "max"]))


@pytest.mark.parametrize("args, message", [
    (([], [], []), "at least one metric"),
    (([1.0, 2.0], [1.0], ["max", "max"]), "2 values, 1 baselines, 2 directions"),
    (([1.0], [0.0], ["max"]), "non-zero baselines.*metric 0 = 0.0"),
    (([1.0], [float("inf")], ["max"]), "non-zero baselines"),
    (([1.0], [1.0], ["up"]), r"Expected the direction of metric 0 to be one of \['max', 'min'\]"),
    ((["1.0"], [1.0], ["max"]), "Expected metric 0 to be a number. Received: '1.0'"),
    (({"a": 1.0}, {"b": 1.0}, "max"), r"Expected baselines for every metric \['a'\]"),
    (({"a": 1.0}, [1.0], "max"), "Expected baselines to be a mapping"),
    (({"a": 1.0}, {"a": 1.0}, ["max"]), "Expected directions to be 'max', 'min' or a mapping"),
])
def test_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        delta_m(*args)


def test_public_from_the_package():
    assert mtl.evaluation.delta_m is delta_m


def _aux_tasks():
    return [mtl.Task("body_mass", "regression"), mtl.Task("body", "binary"),
            mtl.Task("sex", "binary", auxiliary=True)]


def test_auxiliary_tasks_are_left_out_given_the_tasks():
    values = {"val_body_mass_mae": 0.25, "body_accuracy": 0.9, "sex_accuracy": 0.1}
    baselines = {"val_body_mass_mae": 0.5, "body_accuracy": 0.75, "sex_accuracy": 1.0}
    directions = {"val_body_mass_mae": "min", "body_accuracy": "max", "sex_accuracy": "max"}
    # body_mass (the longest matching task name, not "body"): +50 %; body: +20 %;
    # sex is auxiliary (it would add -90 %). Mean (50 + 20) / 2 = 35.
    assert delta_m(values, baselines, directions, tasks=_aux_tasks()) == pytest.approx(35.0)
    assert delta_m(values, baselines, directions) == pytest.approx((50 + 20 - 90) / 3)
    # A bare task name is its metric.
    assert delta_m({"body": 0.9, "sex": 0.1}, {"body": 0.75, "sex": 1.0}, "max",
                   tasks=_aux_tasks()) == pytest.approx(20.0)


def test_auxiliary_filter_needs_named_metrics_of_known_tasks():
    with pytest.raises(ValueError, match="keyed by metric name.*Received: sequences"):
        delta_m([0.9], [0.75], ["max"], tasks=_aux_tasks())
    with pytest.raises(ValueError, match=r"starting with a task name.*Received: \['wing_mae'\]"):
        delta_m({"wing_mae": 1.0}, {"wing_mae": 2.0}, "min", tasks=_aux_tasks())
    with pytest.raises(ValueError, match="only metrics of auxiliary tasks"):
        delta_m({"sex_accuracy": 0.9}, {"sex_accuracy": 0.8}, "max", tasks=_aux_tasks())
    with pytest.raises(ValueError, match="Expected tasks to be `mtl_keras.Task`s"):
        delta_m({"sex": 0.9}, {"sex": 0.8}, "max", tasks=["sex"])
