"""docs/own_data.md, "From the command line, end to end": the config, commands and body run."""

import json
import os
import re
import shlex
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

from mtl_keras import cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


def _block(text, marker):
    """The fenced block right after `<!-- marker -->`."""
    found = re.search(rf"<!-- {marker} -->\n```\w+\n(.*?)```", text, re.S)
    assert found, marker
    return found.group(1)


@pytest.mark.slow
def test_the_cli_path_of_the_tutorial_runs(tmp_path, monkeypatch, capsys):
    with open(os.path.join(ROOT, "docs", "own_data.md"), encoding="utf-8") as f:
        text = f.read()
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    try:
        import own_table
    finally:
        sys.path.pop(0)
    monkeypatch.chdir(tmp_path)
    os.makedirs("own_table_run")
    own_table.write_wine_csv(os.path.join("own_table_run", "wine.csv"))
    config = yaml.safe_load(_block(text, "own-data-config"))
    assert config["epochs"] == 40
    config["epochs"] = 1  # the test's budget; everything else as documented
    with open(os.path.join("own_table_run", "wine.yaml"), "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)

    commands = [shlex.split(line) for line in
                _block(text, "own-data-commands").strip().splitlines()]
    assert [c[:2] for c in commands] == [["mtl-keras", v] for v in
                                        ("train", "evaluate", "export", "predict")]
    for command in commands:
        assert cli.main(command[1:]) == 0, (command, capsys.readouterr().err)
    printed = capsys.readouterr().out
    assert re.search(r"cultivar +accuracy", printed) and "wrote 178 rows of predictions" in printed
    run = os.path.join("own_table_run", "wine_run")
    assert sorted(os.listdir(run)) == ["data_spec.json", "model.keras"]
    spec = json.load(open(os.path.join(run, "data_spec.json")))
    # The response's class order, as the page states it.
    assert spec["targets"]["cultivar"]["classes"] == ["cultivar_1", "cultivar_2", "cultivar_3"]
    # Wine's features are all numbers: no lookup indices, no inputs JSON.
    assert os.listdir(os.path.join("own_table_run", "export", "tflite")) == [
        "wine_float32.tflite"]
    header = open(os.path.join("own_table_run", "preds.csv")).readline().strip().split(",")
    assert header == ["sample_id", "cultivar", "cultivar_prob_cultivar_1",
                      "cultivar_prob_cultivar_2", "cultivar_prob_cultivar_3", "flavanoids",
                      "color_intensity"]

    # The REST body, as TF Serving feeds it to the exported signature.
    body = json.loads(_block(text, "own-data-request"))
    served = tf.saved_model.load(os.path.join("own_table_run", "export", "serving", "wine", "1"))
    signature = served.signatures[body["signature_name"]]
    specs = signature.structured_input_signature[1]
    assert sorted(specs) == sorted(body["instances"][0]) == sorted(spec["features"])
    tensors = {k: tf.constant([row[k] for row in body["instances"]], s.dtype)
               for k, s in specs.items()}
    out = {k: v.numpy() for k, v in signature(**tensors).items()}
    assert sorted(out) == ["color_intensity", "cultivar", "flavanoids"]
    assert out["cultivar"].shape == (1, 3) and abs(out["cultivar"].sum() - 1) < 1e-5
    model = keras.saving.load_model(os.path.join(run, "model.keras"))
    expected = model(tensors, training=False)
    for task, value in out.items():
        np.testing.assert_allclose(value, np.asarray(expected[task]), rtol=1e-5, atol=1e-6)
