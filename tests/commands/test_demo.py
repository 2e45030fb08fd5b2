"""`mtl-keras demo`: verdicts by hand, the report's structure, scarce labels, the CLI run."""

import json
import math

import numpy as np
import pytest

import keras
import mtl_keras as mtl
from mtl_keras import cli
from mtl_keras.commands import _demo_comparison as study
from mtl_keras.commands import demo as demo_command
from mtl_keras.evaluation import ComparisonResult
from mtl_keras.evaluation.compare_stats import paired_test


# ------------------------------------------------------------------ verdicts by hand
def test_verdict_follows_the_interval_and_the_test():
    # d = [0.02, 0.03, 0.04]: mean 0.03, s = 0.01, t = 0.03 / (0.01 / sqrt(3)) = 5.196 on
    # 2 degrees of freedom; p = 1 - t / sqrt(t^2 + 2) = 0.0351 (closed form for df = 2);
    # 95 % interval 0.03 -+ 4.3027 * 0.01 / sqrt(3) = [0.00516, 0.05484].
    test = paired_test([0.02, 0.03, 0.04])
    t = 0.03 / (0.01 / math.sqrt(3))
    assert test.t_pvalue == pytest.approx(1 - t / math.sqrt(t * t + 2), rel=1e-6)
    assert test.interval.low == pytest.approx(0.03 - 4.302653 * 0.01 / math.sqrt(3), rel=1e-5)
    low, high, p = test.interval.low, test.interval.high, test.t_pvalue
    assert study.verdict(low, high, p, "max") == "helped"     # accuracy went up
    assert study.verdict(low, high, p, "min") == "lost"       # an error went up
    assert study.verdict(-high, -low, p, "min") == "helped"   # an error went down
    assert study.verdict(-high, -low, p, "max") == "lost"
    # p = 0.035 does not reject at 1 %: a tie, although the 95 % interval excludes 0.
    assert study.verdict(low, high, p, "max", alpha=0.01) == "tied"


@pytest.mark.parametrize("low, high, p", [
    (-0.01, 0.05, 0.20),           # the interval contains 0
    (0.0, 0.05, 0.05),             # 0 is its lower bound
    (0.01, 0.01, float("nan")),    # the same difference on every seed: no t-test
    (0.01, 0.05, 0.06),            # p above 0.05
])
def test_verdict_ties(low, high, p):
    assert study.verdict(low, high, p, "max") == "tied"
    assert study.verdict(low, high, p, "min") == "tied"


def test_verdict_undecided_and_bad_input():
    assert study.verdict(float("nan"), float("nan"), float("nan"), "max") == "undecided"
    with pytest.raises(ValueError, match="Expected an interval with low <= high. Received: "
                                         "low=0.2, high=0.1"):
        study.verdict(0.2, 0.1, 0.01, "max")
    with pytest.raises(ValueError, match="direction"):
        study.verdict(0.1, 0.2, 0.01, "up")


# ---------------------------------------------------------- the report, fixed numbers
def fixed_result(auxiliary=()):
    """Three seeds. hard: species +0.02/+0.03/+0.04 (helped), body_mass MAE +0.01/-0.01/
    +0.02 (tied); lossy: species -0.02/-0.03/-0.04, body_mass MAE +0.02/+0.03/+0.04 (both
    lost)."""
    scores = {
        "single_task": {"species": [0.90, 0.92, 0.94], "body_mass": [0.30, 0.32, 0.28]},
        "hard": {"species": [0.92, 0.95, 0.98], "body_mass": [0.31, 0.31, 0.30]},
        "lossy": {"species": [0.88, 0.89, 0.90], "body_mass": [0.32, 0.35, 0.32]},
    }
    costs = {"single_task": {"parameters": 858, "train_seconds": [52.0, 50.0, 54.0],
                             "latency_ms": [5.0, 5.0, 5.0]},
             "hard": {"parameters": 396, "train_seconds": [22.0, 23.0, 24.0],
                      "latency_ms": [1.0, 1.0, 1.0]},
             "lossy": {"parameters": 1287, "train_seconds": [78.0, 78.0, 78.0],
                       "latency_ms": [2.0, 2.0, 2.0]}}
    return ComparisonResult(["species", "body_mass"], {"species": "accuracy", "body_mass": "mae"},
                            {"species": "max", "body_mass": "min"}, [0, 1, 2], scores, costs,
                            auxiliary=auxiliary)


def test_verdicts_of_a_comparison():
    entries = study.verdicts(fixed_result())
    assert [(e["model"], e["task"], e["verdict"]) for e in entries] == [
        ("hard", "species", "helped"), ("hard", "body_mass", "tied"),
        ("lossy", "species", "lost"), ("lossy", "body_mass", "lost")]
    first = entries[0]
    assert first["baseline"].mean == pytest.approx(0.92)
    assert first["value"].mean == pytest.approx(0.95)
    assert first["difference"].interval.mean == pytest.approx(0.03)


def test_report_table_structure():
    text = study.report(fixed_result())
    lines = text.splitlines()
    header = lines[0].split("  ")
    header = [h.strip() for h in header if h.strip()]
    assert header == ["task", "test metric", "model", "mean [95 % interval]",
                      "difference vs single_task [95 %]", "p (paired t)", "verdict"]
    assert set(lines[1]) == {"-", " "}
    # Per task: the baseline row, then one row per model with its verdict last.
    rows = lines[2:8]
    assert rows[0].startswith("species") and "accuracy (higher is better)" in rows[0]
    # 0.92 -+ 4.3027 * 0.02 / sqrt(3) = 0.92 -+ 0.0497.
    assert rows[0].endswith("single_task  0.9200 [0.8703, 0.9697]")
    assert rows[1].split()[0] == "hard" and rows[1].endswith("helped")
    assert "+0.0300 [+0.0052, +0.0548]" in rows[1] and " 0.035 " in rows[1]
    assert rows[2].split()[0] == "lossy" and rows[2].endswith("lost")
    assert rows[3].startswith("body_mass") and "mae (lower is better)" in rows[3]
    assert rows[4].split()[0] == "hard" and rows[4].endswith("tied")
    assert rows[5].split()[0] == "lossy" and rows[5].endswith("lost")
    assert lines[8] == ""


def test_report_sentences_and_cost():
    text = study.report(fixed_result())
    assert ("hard HELPED on species accuracy (higher is better): 0.9200 -> 0.9500, difference "
            "+0.0300, 95 % interval [+0.0052, +0.0548], p = 0.035.") in text
    assert "hard TIED with single_task on body_mass mae (lower is better): 0.3000 -> 0.3067" \
        in text
    assert "lossy LOST on body_mass mae (lower is better)" in text
    assert ("In short: sharing helped on species (hard); tied on body_mass (hard); lost on "
            "species (lossy), body_mass (lossy).") in text
    # 396 / 858 = 0.46 (54 % fewer); 23 s / 52 s = 0.44 (56 % less time); 1287 / 858 = 1.50.
    assert ("hard: 396 parameters against 858 for the 2 single_task models: 0.46x (54 % fewer); "
            "training 23.0 s against 52.0 s per seed: 0.44x (56 % less time).") in text
    assert ("lossy: 1287 parameters against 858 for the 2 single_task models: 1.50x (50 % more);"
            " training 78.0 s against 52.0 s per seed: 1.50x (50 % more time).") in text


def test_summary_counts_and_detectable_effects():
    # hard on body_mass: d = [0.01, -0.01, 0.02], s = sqrt(0.0007 / 3), half-width
    # 4.3027 * s / sqrt(3) = 0.038; species: 4.3027 * 0.01 / sqrt(3) = 0.025.
    line = study.summary(fixed_result(), "(a) All labelled")
    assert line.startswith("(a) All labelled: of 4 model-task comparisons, helped 1, tied 1, "
                           "lost 2. Half-widths of the 95 % intervals of the differences: "
                           "species (hard) ±0.025, body_mass (hard) ±0.038, ")
    assert line.endswith("smaller effects cannot be told from noise with 3 seeds.")


def test_cost_names_the_auxiliary_tasks():
    (line, _) = study.cost_lines(fixed_result(auxiliary=["sex"]))
    assert line.endswith("; it also trains sex.")


# ------------------------------------------------------------------- scarce labels
def test_scarce_labels_keeps_the_stated_share():
    data = mtl.data.load_penguins(seed=3)
    labelled = int((data.train.labels["sex"] >= 0).sum())
    scarce, kept, total = study.scarce_labels(data, "sex", 0.1, seed=3)
    assert total == labelled and kept == round(0.1 * labelled)
    sex = scarce.train.labels["sex"]
    assert int((sex >= 0).sum()) == kept
    # Kept labels are the original ones; the validation and test splits and the other
    # tasks are untouched; the original data is not modified.
    original = data.train.labels["sex"]
    assert np.array_equal(sex[sex >= 0], original[sex >= 0])
    assert int((original >= 0).sum()) == labelled
    assert scarce.validation is data.validation and scarce.test is data.test
    assert scarce.train.labels["species"] is data.train.labels["species"]
    again, _, _ = study.scarce_labels(data, "sex", 0.1, seed=3)
    assert np.array_equal(again.train.labels["sex"], sex)


def test_scarce_regression_labels_become_nan():
    data = mtl.data.load_penguins()
    scarce, kept, total = study.scarce_labels(data, "body_mass", 0.25, seed=0)
    mass = scarce.train.labels["body_mass"]
    assert total == len(data.train) and kept == round(0.25 * total)
    assert int(np.isfinite(mass).sum()) == kept


@pytest.mark.parametrize("kwargs, match", [
    ({"seeds": 1}, "seeds"), ({"epochs": 0}, "epochs"), ({"fraction": 0.0}, "fraction"),
    ({"fraction": 1.5}, "fraction"), ({"scarce_task": "beak"}, "scarce_task"),
    ({"units": ()}, "units"), ({"learning_rate": 0}, "learning_rate"), ({"gcs": 1}, "gcs"),
])
def test_settings_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        study.DemoSettings(**kwargs)


def test_settings_are_printed_as_a_command():
    settings = study.DemoSettings(seeds=3, first_seed=7, epochs=4, fraction=0.15)
    assert settings.seed_list == [7, 8, 9]
    assert demo_command.command_line(settings, "runs/d") == (
        "mtl-keras demo --seed 7 --seeds 3 --epochs 4 --scarce-task sex --fraction 0.15 "
        "--out runs/d")
    assert "seeds 7..9" in settings.describe() and "4 epochs" in settings.describe()
    no_gcs = study.DemoSettings(seeds=2, gcs=False)
    assert demo_command.command_line(no_gcs, "d").endswith("--fraction 0.1 --no-gcs --out d")


# ------------------------------------------------------------------------ the verb
def test_demo_prints_both_settings_saves_and_reloads(tmp_path, capsys, monkeypatch):
    # The comparisons are replaced by fixed results (their training is tested in
    # tests/evaluation and by the slow run below); the saved model trains for real.
    calls = []

    def fixed_setting(settings, scarce, verbose=1):
        calls.append((settings, scarce))
        return fixed_result(auxiliary=["species", "body_mass"] if scarce else [])

    results, demo = [], demo_command.demo

    def recording_demo(**kwargs):  # The verb's demo(), keeping its result for the checks.
        results.append(demo(**kwargs))
        return results[-1]

    monkeypatch.setattr(study, "run_setting", fixed_setting)
    monkeypatch.setattr(demo_command, "demo", recording_demo)
    out = tmp_path / "run"
    assert cli.main(["demo", "--out", str(out), "--seeds", "3", "--epochs", "2", "--fraction",
                     "0.15", "--no-tune", "--no-export"]) == 0
    (result,) = results
    printed = capsys.readouterr().out
    settings = result["settings"]
    assert (settings.seeds, settings.epochs, settings.fraction) == (3, 2, 0.15)
    assert [scarce for _, scarce in calls] == [False, True]
    assert f"Repeat this run: {demo_command.command_line(settings, str(out))}" in printed
    assert "== (a) All tasks labelled" in printed
    assert "== (b) Scarce labels: sex keeps 15 % of its training labels (seed 0: " in printed
    assert printed.count("In plain words") == 2 and printed.count("In short:") == 2
    assert "\n(a) All labelled: of 4 model-task comparisons, helped 1, tied 1, lost 2." in printed
    assert "\n(b) sex on 15 % of its labels: of 4 model-task" in printed
    assert [e["verdict"] for e in result["verdicts"]["all_labelled"]] == [
        "helped", "tied", "lost", "lost"]
    for name in demo_command.COMPARISONS.values():
        saved = json.loads((out / name).read_text())
        assert saved["summary"]["hard"]["verdict"] in ("better", "worse", "tie")
    model = keras.saving.load_model(result["path"], safe_mode=True)
    x = result["data"].test.features
    np.testing.assert_allclose(model.predict(x, verbose=0)["species"],
                               result["model"].predict(x, verbose=0)["species"], rtol=1e-6)
    assert "test: species accuracy " in printed and "tuning" not in result


def test_demo_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "model.keras").write_bytes(b"user data")
    assert cli.main(["demo", "--out", str(out), "--quick"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (out / "model.keras").read_bytes() == b"user data"
    (out / "model.keras").unlink()
    (out / "comparison_scarce_labels.json").write_text("{}")
    assert cli.main(["demo", "--out", str(out), "--quick"]) == 2
    assert "comparison_scarce_labels.json' already exists" in capsys.readouterr().err
    (out / "comparison_scarce_labels.json").unlink()
    (out / "tune").mkdir()  # --quick runs no search unless --trials is given
    assert cli.main(["demo", "--out", str(out), "--quick", "--trials", "1", "--no-export"]) == 2
    assert f"Expected a new location for the search. Received: {str(out / 'tune')!r}" in (
        capsys.readouterr().err)


def test_demo_output_path_is_checked_first(tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("user data")
    assert cli.main(["demo", "--out", str(a_file), "--quick"]) == 2
    captured = capsys.readouterr()
    assert "Expected --out to be a directory" in captured.err and captured.out == ""
    assert a_file.read_text() == "user data"


@pytest.mark.slow
def test_demo_cli_tiny_real_run(tmp_path, capsys):
    # Both comparisons train for real (2 seeds, 1 epoch), then one search trial.
    out = tmp_path / "run"
    assert cli.main(["demo", "--out", str(out), "--seeds", "2", "--epochs", "1", "--trials",
                     "1", "--no-export"]) == 0
    printed = capsys.readouterr().out
    assert "seeds 0..1" in printed and "1 epoch," in printed
    assert printed.count("difference vs single_task [95 %]") == 2
    # A table row ending in a verdict per model and task: hard sharing on 3 + 1 tasks,
    # with GCS on the scarce task.
    rows = [l.split() for l in printed.splitlines() if l.split()[-1:] in
            [[v] for v in study.VERDICTS]]
    assert [r[0] for r in rows] == ["hard_sharing"] * 4 + ["hard_sharing_gcs"]
    # Progress: (a) 2 seeds x (3 single-task + 1 shared) fits, (b) 2 x (1 + 2).
    assert "fit 8/8 seed 1 hard_sharing" in printed
    assert "fit 6/6 seed 1 hard_sharing_gcs" in printed
    saved = json.loads((out / "comparison_scarce_labels.json").read_text())
    assert saved["tasks"] == ["sex"] and saved["auxiliary"] == ["species", "body_mass"]
    assert saved["settings"]["selected_on"] == "val_main_task_loss_sum"
    assert "Loss-weight search: 1 trials x 2 epochs" in printed
    assert "\ntrial 1/1: weights species=" in printed
    assert (out / "model.keras").is_file() and (out / "tune").is_dir()
    assert not (out / "export").exists()


@pytest.mark.slow
def test_demo_cli_quick_exports(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["demo", "--out", str(out), "--quick"]) == 0
    printed = capsys.readouterr().out
    assert "seeds 0..1" in printed and "1 epoch," in printed and "--no-gcs" in printed
    assert "hard_sharing_gcs" not in printed and "Loss-weight search" not in printed
    assert "penguins_int8.tflite" in printed and "serving/penguins/1" in printed
    assert (out / "export" / "serving" / "penguins" / "1" / "saved_model.pb").is_file()
    # Every float artifact agreed with the Keras model (the export fails otherwise).
    float_rows = [l for l in printed.splitlines() if " float32 " in l]
    assert float_rows and all(" yes " in l for l in float_rows)
