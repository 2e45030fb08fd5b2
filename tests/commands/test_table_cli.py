"""Every verb on a run config whose `data:` is a data spec (a user's own CSV)."""

import csv
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_keras as mtl
from mtl_keras import cli
from mtl_keras.commands import _common
from mtl_keras.commands._common import RunConfig
from mtl_keras.data import DataSpec
from tests.commands._table import data_section, rows, write_config, write_csv


def _error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def test_train_evaluate_predict_on_a_table_config(tmp_path, capsys, monkeypatch):
    config = write_config(tmp_path, name="run.yaml", out="run", weighting="uncertainty")
    monkeypatch.chdir(tmp_path.parent)  # the CSV path is relative to the config, not to cwd
    assert cli.main(["train", "--config", config]) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert f"Training hard_sharing on CSV {tmp_path / 'table.csv'} (kind, score, flag)" in printed
    assert "kind_accuracy" in printed and "score_mae" in printed
    run = tmp_path / "run"
    assert sorted(os.listdir(run)) == ["data_spec.json", "model.keras"]

    spec = json.loads((run / "data_spec.json").read_text())
    assert spec["targets"]["kind"]["classes"] == ["a", "b", "c"]
    assert spec["targets"]["flag"] == {"task": "flag", "kind": "binary", "classes": ["no", "yes"]}
    assert spec["features"]["count"]["type"] == "integer_categorical"
    # The split sums to the 60 rows; the statistics are the training rows' (by hand).
    assert sum(spec["rows"].values()) == 60
    train = DataSpec.read(str(run / "data_spec.json")).load(check=False)
    sizes = np.concatenate([x["size"].numpy().ravel()
                            for x, _ in train.dataset("train", 64, shuffle=False)])
    known = [float(r[1]) for r in rows() if r[1]]
    assert spec["features"]["size"]["fill_value"] == pytest.approx(spec["features"]["size"]["mean"])
    assert min(known) <= spec["features"]["size"]["mean"] <= max(known)
    assert len(sizes) == spec["rows"]["train"]

    # evaluate reads the spec next to the model: one row per task and metric.
    assert cli.main(["evaluate", str(run / "model.keras")]) == 0
    table = capsys.readouterr().out
    model = keras.saving.load_model(run / "model.keras")
    logs = model.evaluate(train.dataset("test", 64), return_dict=True, verbose=0)
    assert f"kind   accuracy  {logs['kind_accuracy']:.4f}" in table
    assert f"score  mae       {logs['score_mae']:.4f}" in table

    # predict: the rows in file order, ids passed through, probabilities by hand.
    out = tmp_path / "preds.csv"
    assert cli.main(["predict", "--model", str(run), "--data", str(tmp_path / "table.csv"),
                     "--out", str(out), "--keep", "row_id", "--batch-size", "7"]) == 0
    assert "wrote 60 rows of predictions" in capsys.readouterr().out
    with open(out) as f:
        written = list(csv.DictReader(f))
    assert [r["row_id"] for r in written] == [str(i) for i in range(60)]
    features = next(iter(train.read(str(tmp_path / "table.csv"), batch_size=60)))
    expected = {k: np.asarray(v) for k, v in model(features, training=False).items()}
    for i in (0, 3, 59):  # row 3 has an empty size cell: the training mean is used
        probs = expected["kind"][i]
        assert written[i]["kind"] == "abc"[int(np.argmax(probs))]
        for j, c in enumerate("abc"):
            assert float(written[i][f"kind_prob_{c}"]) == pytest.approx(probs[j], rel=1e-6)
        assert float(written[i]["score"]) == pytest.approx(expected["score"][i, 0], rel=1e-6)
        p = expected["flag"][i, 0]
        assert written[i]["flag"] == ("yes" if p > 0.5 else "no")
        assert float(written[i]["flag_prob_yes"]) == pytest.approx(p, rel=1e-6)


def test_train_with_the_disk_cache_from_the_config(tmp_path, capsys):
    # `cache: disk` in the data section: two epochs, the second read from the
    # cache file; the saved spec keeps the option.
    config = write_config(tmp_path, data={**data_section(), "cache": "disk"}, epochs=2)
    assert cli.main(["train", "--config", config]) == 0, capsys.readouterr().err
    spec = json.loads((tmp_path / "run" / "data_spec.json").read_text())
    assert spec["cache"] == "disk"


@pytest.mark.parametrize("architecture", ["soft_sharing", "cross_stitch", "mmoe",
                                          pytest.param("ple", marks=pytest.mark.slow)])
def test_every_architecture_trains_on_a_table(tmp_path, capsys, architecture):
    config = write_config(tmp_path, architecture=architecture, tasks=["kind", "score"])
    assert cli.main(["train", "--config", config]) == 0, capsys.readouterr().err
    model = keras.saving.load_model(tmp_path / "run" / "model.keras", safe_mode=True)
    assert model.task_names == ["kind", "score"]
    assert sorted(model.trunk.input) == ["color", "count", "size"]


WEIGHTINGS = ["pcgrad", {"kind": 2.0, "score": 0.5, "flag": 1.0}]


@pytest.mark.parametrize("weighting", WEIGHTINGS, ids=str)
def test_weighting_methods_train_on_a_table(tmp_path, capsys, weighting):
    config = RunConfig.from_dict({**json.loads(open(write_config(tmp_path)).read()),
                                  "weighting": weighting}, base_dir=str(tmp_path))
    from mtl_keras.commands.train import train

    model, metrics = train(config, verbose=0)
    assert set(metrics) >= {"kind_loss", "score_loss", "flag_loss"}
    assert all(np.isfinite(v) for v in metrics.values())


@pytest.mark.slow
def test_every_weighting_method_trains_on_a_table(tmp_path):
    from mtl_keras.commands.train import train

    base = json.loads(open(write_config(tmp_path)).read())
    auxiliary = []
    for name in mtl.weighting.available():
        config = RunConfig.from_dict({**base, "weighting": name, "out": str(tmp_path / name)},
                                     base_dir=str(tmp_path))
        try:
            _, metrics = train(config, verbose=0)
        except ValueError as e:  # a method for auxiliary tasks: a table's tasks are all main
            assert "Expected at least one task marked `Task(..., auxiliary=True)`" in str(e)
            assert not (tmp_path / name / "model.keras").exists()
            auxiliary.append(name)
            continue
        assert all(np.isfinite(v) for v in metrics.values()), name
    assert len(auxiliary) < len(mtl.weighting.available()) // 4, auxiliary


def _refuse_to_train(monkeypatch):
    real = _common.build_model

    def build_model(*args, **kwargs):
        raise AssertionError("a model was built: the data check came too late")

    monkeypatch.setattr(_common, "build_model", build_model)
    return real


@pytest.mark.parametrize("change, message", [
    (lambda d: d["features"].update(weight=None),
     "Expected the column(s) 'weight' (feature) in CSV"),
    (lambda d: d.update(source="missing-*.csv"), "which matches no file"),
    (lambda d: d["features"].update(kind=None),
     "Expected a column to be either a feature or a target"),
    (lambda d: d.update(colour=1), "Expected data spec keys among"),
    (lambda d: d["targets"].update(empty=None), "no non-empty value"),
])
def test_data_errors_are_one_line_before_training(tmp_path, capsys, monkeypatch, change,
                                                  message):
    _refuse_to_train(monkeypatch)
    write_csv(tmp_path / "table.csv")
    with open(tmp_path / "table.csv") as f:
        lines = f.read().splitlines()
    with open(tmp_path / "table.csv", "w") as f:  # a target column with no value at all
        f.write("\n".join([lines[0] + ",empty"] + [line + "," for line in lines[1:]]) + "\n")
    data = data_section()
    change(data)
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"data": data, "epochs": 1, "out": str(tmp_path / "o")}))
    code = cli.main(["train", "--config", str(config)])
    line = _error_line(capsys)
    assert code == 2 and line.startswith("mtl-keras train: error: ") and message in line, line
    assert "Received" in line
    assert not (tmp_path / "o").exists()


def test_config_data_values():
    with pytest.raises(ValueError, match=r"Expected data to be one of \['penguins'\] or a data "
                                         r"spec mapping .* Received: data='mnist'"):
        RunConfig.from_dict({"data": "mnist"})
    with pytest.raises(ValueError, match="data: Expected `targets` in the data spec"):
        RunConfig.from_dict({"data": {"source": "x.csv"}})
    with pytest.raises(ValueError, match=r"Received: data=\[1\]"):
        RunConfig.from_dict({"data": [1]})
    config = RunConfig.from_dict({"data": data_section()})  # no file is opened
    assert config.data["targets"]["score"] == "regression"


def test_crosses_train_with_hard_sharing_only(tmp_path, capsys):
    config = json.loads(open(write_config(tmp_path)).read())
    config["data"]["features"]["color"] = "string_categorical"
    config["data"]["crosses"] = [["color", "count"]]
    path = tmp_path / "cross.json"
    path.write_text(json.dumps({**config, "architecture": "mmoe"}))
    assert cli.main(["train", "--config", str(path)]) == 2
    assert "Expected architecture hard_sharing for a data spec with feature crosses" in \
        _error_line(capsys)
    path.write_text(json.dumps(config))
    assert cli.main(["train", "--config", str(path)]) == 0, capsys.readouterr().err
    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    assert model.trunk.get_layer("backbone").get_layer("feature_space") is not None


@pytest.mark.slow
def test_tune_and_export_on_a_table(tmp_path, capsys):
    config = write_config(tmp_path)
    code = cli.main(["tune", "--data", config, "--trials", "1", "--epochs", "1", "--units", "4",
                     "--directory", str(tmp_path / "tune")])
    assert code == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "kind_accuracy" in out and "Δm of tuned over equal weights on test" in out
    report = json.loads((tmp_path / "tune" / "table_weights" / "tuning_report.json").read_text())
    assert set(report["trials"][0]["weights"]) == {"kind", "score", "flag"}

    assert cli.main(["train", "--config", config]) == 0
    capsys.readouterr()
    export = tmp_path / "export"
    assert cli.main(["export", str(tmp_path / "run" / "model.keras"), "--out", str(export),
                     "--quantize", "float32,int8", "--calibration-steps", "4"]) == 0, \
        capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "kind_accuracy" in printed and "data spec" in printed
    assert (export / "data_spec.json").read_bytes() == \
        (tmp_path / "run" / "data_spec.json").read_bytes()
    inputs = json.loads((export / "tflite" / "model_inputs.json").read_text())
    spec = json.loads((export / "data_spec.json").read_text())
    assert inputs["inputs"]["color"]["vocabulary"] == spec["features"]["color"]["vocabulary"]
    assert sorted(os.listdir(export / "tflite")) == [
        "model_float32.tflite", "model_inputs.json", "model_int8.tflite"]
    served = tf.saved_model.load(str(export / "serving" / "model" / "1"))
    specs = served.signatures["serving_default"].structured_input_signature[1]
    assert specs["color"].dtype == tf.string and specs["count"].dtype == tf.int64


def test_predict_errors_before_writing(tmp_path, capsys):
    config = write_config(tmp_path)
    assert cli.main(["train", "--config", config]) == 0
    capsys.readouterr()
    run, table = str(tmp_path / "run"), str(tmp_path / "table.csv")
    (tmp_path / "exists.csv").write_text("keep me")
    (tmp_path / "penguins").mkdir()
    cases = [
        (["--out", str(tmp_path / "p.txt")], "Expected --out to end in one of"),
        (["--out", str(tmp_path / "exists.csv")], "already exists"),
        (["--out", str(tmp_path / "p.csv"), "--keep", "id"],
         "Expected the column(s) 'id' (kept column) in CSV"),
        (["--out", str(tmp_path / "p.csv"), "--data", str(tmp_path / "none-*.csv")],
         "which matches no file"),
        (["--out", str(tmp_path / "p.csv"), "--model", str(tmp_path / "penguins")],
         "Expected data_spec.json next to the model"),
    ]
    for extra, message in cases:
        argv = ["predict", "--model", run, "--data", table]
        argv += extra
        assert cli.main(argv) == 2
        line = _error_line(capsys)
        assert line.startswith("mtl-keras predict: error: Expected") and message in line, line
    assert (tmp_path / "exists.csv").read_text() == "keep me"
    assert not (tmp_path / "p.csv").exists()
    # Parquet, with the target columns absent from the file.
    import pandas as pd

    frame = pd.read_csv(table, dtype=str, keep_default_na=False)
    frame[["row_id", "size", "color", "count"]].to_parquet(tmp_path / "new.parquet")
    code = cli.main(["predict", "--model", run, "--data", str(tmp_path / "new.parquet"),
                     "--out", str(tmp_path / "p.parquet"), "--keep", "row_id"])
    assert code == 0, capsys.readouterr().err
    preds = pd.read_parquet(tmp_path / "p.parquet")
    assert list(preds.columns[:2]) == ["row_id", "kind"] and len(preds) == 60
    assert set(preds["flag"]) <= {"yes", "no"}
    np.testing.assert_allclose(preds["flag_prob_yes"] + preds["flag_prob_no"], 1.0, rtol=1e-6)
