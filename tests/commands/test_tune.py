"""`mtl-keras tune` on the bundled penguins data: a tiny search, and bad input."""

import json
import os

import pytest

from mtl_keras import cli


def test_tune_prints_trials_best_weights_and_test_metrics(tmp_path, capsys):
    plot = tmp_path / "t.png"
    code = cli.main(["tune", "--trials", "1", "--epochs", "2", "--units", "8",
                     "--directory", str(tmp_path), "--plot", str(plot),
                     "--fix", "species=1.0", "--normalize", "none", "--executions", "2"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Δm baselines (equal weights, validation)" in out
    assert "1 completed trial(s) of 1" in out and "best trial" in out
    assert "== Test split ==" in out and "Δm of tuned over equal weights on test" in out
    assert plot.read_bytes()[:4] == b"\x89PNG"
    report = json.loads((tmp_path / "penguins_weights" / "tuning_report.json").read_text())
    assert len(report["trials"]) == 1
    for trial in report["trials"]:
        assert trial["weights"]["species"] == 1.0
        assert set(trial["metrics"]) >= {"val_species_accuracy", "val_sex_accuracy",
                                         "val_body_mass_mae", "val_delta_m"}
    # Progress: a line as the trial starts (its weights) and as it ends (its score).
    (trial,) = report["trials"]
    weights = ", ".join(f"{k}={v:.3f}" for k, v in trial["weights"].items())
    assert f"\ntrial 1/1: weights {weights}\n" in out
    assert (f"\ntrial 1/1 done in " in out and f"s: val_delta_m={trial['score']:.4f}; best so far "
            f"{trial['score']:.4f} (trial {trial['trial_id']})\n" in out)
    assert out.index("trial 1/1: weights") < out.index("trial 1/1 done") < out.index("best trial")
    # The best weights against equal weights on 2 fresh seeds; the verdict decides what is kept.
    assert "Best weights vs equal weights on 2 fresh seeds" in out
    assert "execution 2/2 (seed 2): val_delta_m tuned" in out
    check = report["noise_check"]
    assert len(check["best"]) == len(check["equal"]) == 2 and check["text"] in out
    kept = "Kept: the best trial's weights" if check["beats_equal_weights"] else (
        "Kept: equal weights (the best trial did not beat them beyond the noise)")
    assert kept in out


def test_tune_bad_input_fails_before_training(tmp_path, capsys):
    cases = [
        (["--objective", "species_mae"], "Expected an objective metric"),
        (["--objective", "val_loss"], "does not depend on the loss weights"),
        (["--baselines", "species=0.9"], "missing tasks: ['sex', 'body_mass']"),
        (["--fix", "species=1", "--fix", "sex=1", "--fix", "body_mass=1"],
         "at least one task whose weight is searched"),
        (["--tuner", "grid"], "Expected --step"),
        (["--fix", "penguin=2"], "unknown tasks: ['penguin']"),
    ]
    for extra, message in cases:
        code = cli.main(["tune", "--directory", str(tmp_path)] + extra)
        captured = capsys.readouterr()
        assert code == 2, extra
        assert message in captured.err, (extra, captured.err)
        assert "Equal weights: training" not in captured.out
    assert not os.listdir(tmp_path)
    with pytest.raises(SystemExit) as info:  # a flag error, caught while parsing
        cli.main(["tune", "--directory", str(tmp_path), "--executions-per-trial", "0"])
    assert info.value.code == 2
    assert "argument --executions-per-trial: expected an integer >= 1" in capsys.readouterr().err


def test_tune_output_paths_are_checked_before_training(tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("user data")
    cases = [
        (["--directory", str(a_file)], "Expected --directory to be a directory"),
        (["--directory", str(tmp_path), "--project-name", "a_file"],
         "Expected --project-name to be a directory"),
        (["--directory", str(tmp_path / "d"), "--plot", str(tmp_path)],
         f"Expected --plot to be a file path. Received: --plot={str(tmp_path)!r} is a directory"),
        (["--directory", str(tmp_path / "d"), "--plot", str(a_file / "t.png")],
         f"but {str(a_file)!r} is a file"),
    ]
    for extra, message in cases:
        assert cli.main(["tune"] + extra) == 2, extra
        captured = capsys.readouterr()
        assert message in captured.err, (extra, captured.err)
        assert "Equal weights: training" not in captured.out
    assert sorted(os.listdir(tmp_path)) == ["a_file"]


def test_tune_executions_1_is_refused_while_parsing(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["tune", "--directory", str(tmp_path), "--executions", "1"])
    assert exit_info.value.code == 2
    assert "argument --executions: expected 0 (no check) or an integer >= 2" in (
        capsys.readouterr().err)
    assert not os.listdir(tmp_path)
