"""Objectives on hand-made trial results: Δm, directions, weighted sums, Pareto sets."""

import keras_tuner
import pytest

import mtl_keras as mtl
from mtl_keras.tuning import objectives, pareto_front


def _tasks():
    return [mtl.Task("species", "multiclass", num_classes=3), mtl.Task("sex", "binary"),
            mtl.Task("body_mass", "regression")]


def test_resolve_metric_key_accepts_task_names_prefixes_and_loss():
    tasks = _tasks()
    assert objectives.resolve_metric_key("species", tasks) == (tasks[0], "accuracy")
    assert objectives.resolve_metric_key("val_body_mass_rmse", tasks) == (tasks[2], "rmse")
    assert objectives.resolve_metric_key("sex_loss", tasks) == (tasks[1], "loss")
    assert objectives.resolve_metric_key("body_mass", tasks) == (tasks[2], "mae")


def test_unknown_task_or_metric_is_rejected_with_choices():
    for key in ["species_mae", "colour_accuracy", "val_sex_rmse"]:
        with pytest.raises(ValueError, match="Expected an objective metric") as err:
            objectives.MetricObjective(key).validate(_tasks())
        assert "species_accuracy" in str(err.value) and repr(key) in str(err.value)
    with pytest.raises(ValueError, match="Expected a metric key"):
        objectives.MetricObjective("").validate(_tasks())


def test_objectives_that_depend_on_the_weights_are_rejected():
    for key in ["loss", "val_loss", "species_weight", "val_sex_weight"]:
        with pytest.raises(ValueError, match="does not depend on the loss weights"):
            objectives.get(key).validate(_tasks())


def test_metric_objective_direction_from_task_and_override():
    obj = objectives.MetricObjective("sex_auc").validate(_tasks())
    assert (obj.name, obj.direction) == ("val_sex_auc", "max")
    obj = objectives.MetricObjective("val_species_loss").validate(_tasks())
    assert (obj.name, obj.direction) == ("val_species_loss", "min")
    obj = objectives.MetricObjective("body_mass_mae", direction="max").validate(_tasks())
    assert obj.direction == "max"
    assert obj.compute({"val_body_mass_mae": 0.3, "val_loss": 9.0}) == 0.3
    kt_obj = obj.to_keras_tuner()
    assert isinstance(kt_obj, keras_tuner.Objective) and kt_obj.name == "val_body_mass_mae"


def test_weighted_objective_signs_by_direction():
    obj = objectives.WeightedObjective(
        {"species_accuracy": 2.0, "body_mass_mae": 0.5, "sex_loss": 1.0}).validate(_tasks())
    logs = {"val_species_accuracy": 0.9, "val_body_mass_mae": 0.4, "val_sex_loss": 0.7}
    # 2 * 0.9 - 0.5 * 0.4 - 1 * 0.7 = 0.9
    assert obj.compute(logs) == pytest.approx(0.9)
    assert obj.direction == "max" and obj.name == "val_weighted_score"


def test_weighted_objective_rejects_non_positive_coefficients():
    with pytest.raises(ValueError, match="positive finite"):
        objectives.WeightedObjective({"species_accuracy": 0.0})


def test_delta_m_hand_computed():
    obj = objectives.DeltaM({"species": 0.80, "sex_accuracy": 0.50, "body_mass_mae": 0.40})
    obj.validate(_tasks())
    logs = {"val_species_accuracy": 0.84, "val_sex_accuracy": 0.45, "val_body_mass_mae": 0.30}
    # species +5%, sex -10%, body_mass: MAE down 25% is +25%: (5 - 10 + 25) / 3
    assert obj.compute(logs) == pytest.approx(20.0 / 3)
    # At the baselines Δm is exactly 0.
    same = {"val_species_accuracy": 0.8, "val_sex_accuracy": 0.5, "val_body_mass_mae": 0.4}
    assert obj.compute(same) == pytest.approx(0.0)
    assert (obj.name, obj.direction) == ("val_delta_m", "max")


def test_delta_m_missing_baseline_names_the_task():
    with pytest.raises(ValueError, match=r"missing tasks: \['sex'\]"):
        objectives.DeltaM({"species": 0.8, "body_mass": 0.4}).validate(_tasks())
    with pytest.raises(ValueError, match="non-zero"):
        objectives.DeltaM({"species": 0.0})
    with pytest.raises(ValueError, match="Expected baselines"):
        objectives.get("delta_m")


def test_compute_with_missing_validation_metric_says_so():
    obj = objectives.MetricObjective("species").validate(_tasks())
    with pytest.raises(ValueError, match="validation_data"):
        obj.compute({"species_accuracy": 0.9})


def test_pareto_front_directions_ties_and_nan():
    pts = [
        {"a": 0.9, "m": 0.30},   # 0: front (best a)
        {"a": 0.8, "m": 0.20},   # 1: front (best m)
        {"a": 0.8, "m": 0.40},   # 2: dominated by 0 and 1
        {"a": 0.85, "m": 0.25},  # 3: front (trade-off)
        {"a": 0.85, "m": 0.25},  # 4: equal to 3, both kept
        {"a": float("nan"), "m": 0.1},  # 5: never on the front
        {"a": 0.9, "m": 0.35},   # 6: dominated by 0 (same a, worse m)
    ]
    assert pareto_front(pts, {"a": "max", "m": "min"}) == [0, 1, 3, 4]
    # Flip both directions: the old worst become the front.
    assert pareto_front(pts[:4], {"a": "min", "m": "max"}) == [2]
    assert pareto_front([{"a": 1.0}], {"a": "max", "m": "min"}) == []


def test_pareto_objective_score_and_validation():
    obj = objectives.get("pareto").validate(_tasks())
    assert obj.metric_keys == ["val_species_accuracy", "val_sex_accuracy", "val_body_mass_mae"]
    logs = {"val_species_accuracy": 0.9, "val_sex_accuracy": 0.8, "val_body_mass_mae": 0.3}
    assert obj.compute(logs) == pytest.approx(0.9 + 0.8 - 0.3)
    with pytest.raises(ValueError, match="at least two"):
        objectives.ParetoObjective(["species"])
    with pytest.raises(ValueError, match="at least two"):
        objectives.ParetoObjective().validate([mtl.Task("a", "binary")])


def test_get_resolves_identifiers():
    assert isinstance(objectives.get({"species": 1.0}), objectives.WeightedObjective)
    assert isinstance(objectives.get("delta_m", {"species": 0.5}), objectives.DeltaM)
    obj = objectives.get(keras_tuner.Objective("val_sex_auc", "max")).validate(_tasks())
    assert obj.name == "val_sex_auc"
    with pytest.raises(TypeError, match="Expected objective"):
        objectives.get(3)


def test_callback_writes_the_objective_into_the_logs():
    cb = objectives.ObjectiveCallback(
        objectives.DeltaM({"species": 0.5, "sex": 0.5, "body_mass": 0.5}).validate(_tasks()))
    logs = {"val_species_accuracy": 0.6, "val_sex_accuracy": 0.5, "val_body_mass_mae": 0.5}
    cb.on_epoch_end(0, logs)
    assert logs["val_delta_m"] == pytest.approx(100 * 0.2 / 3)


def _tasks_with_auxiliary():
    return [mtl.Task("species", "multiclass", num_classes=3), mtl.Task("sex", "binary"),
            mtl.Task("body_mass", "regression", auxiliary=True)]


def test_delta_m_leaves_auxiliary_tasks_out():
    # body_mass is auxiliary: its baseline is not needed, and ignored when given.
    obj = objectives.DeltaM({"species": 0.80, "body_mass_mae": 0.40, "sex_accuracy": 0.50})
    obj.validate(_tasks_with_auxiliary())
    assert obj.metric_keys == ["val_species_accuracy", "val_sex_accuracy"]
    logs = {"val_species_accuracy": 0.84, "val_sex_accuracy": 0.45, "val_body_mass_mae": 0.1}
    # species +5 %, sex -10 %: (5 - 10) / 2 (body_mass's +75 % does not count).
    assert obj.compute(logs) == pytest.approx(-2.5)
    objectives.DeltaM({"species": 0.8, "sex": 0.5}).validate(_tasks_with_auxiliary())
    with pytest.raises(ValueError, match=r"every main task \['species', 'sex'\].*"
                                         r"missing tasks: \['sex'\]"):
        objectives.DeltaM({"species": 0.8, "body_mass": 0.4}).validate(_tasks_with_auxiliary())


def test_objectives_naming_an_auxiliary_task_are_refused():
    expected = (r"Expected an objective over the main tasks \['species', 'sex'\].*"
                r"Received: '.*body_mass.*', a metric of the auxiliary task 'body_mass'")
    for objective in (objectives.MetricObjective("val_body_mass_mae"),
                      objectives.get("body_mass"),
                      objectives.WeightedObjective({"species": 1.0, "body_mass_mae": 1.0}),
                      objectives.ParetoObjective(["species", "body_mass"])):
        with pytest.raises(ValueError, match=expected):
            objective.validate(_tasks_with_auxiliary())


def test_pareto_defaults_to_the_main_tasks():
    obj = objectives.get("pareto").validate(_tasks_with_auxiliary())
    assert obj.metric_keys == ["val_species_accuracy", "val_sex_accuracy"]
    one_main = [mtl.Task("a", "binary"), mtl.Task("b", "binary", auxiliary=True)]
    with pytest.raises(ValueError, match=r"at least two main tasks.*\(auxiliary: \['b'\]\)"):
        objectives.ParetoObjective().validate(one_main)
