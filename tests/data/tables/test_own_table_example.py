"""examples/own_table.py runs end to end on the Wine table packaged with scikit-learn."""

import importlib.util
import json
import os

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples", "own_table.py")


def test_own_table_example_runs(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("own_table", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    example.main(["--out", str(tmp_path), "--epochs", "2"])
    out = capsys.readouterr().out
    assert "wrote 178 rows" in out and "cultivar        accuracy" in out
    saved = json.loads((tmp_path / "data_spec.json").read_text())
    assert saved["targets"]["cultivar"]["classes"] == ["cultivar_1", "cultivar_2", "cultivar_3"]
    assert sum(saved["rows"].values()) == 178
    assert sorted(os.listdir(tmp_path)) == ["data_spec.json", "wine.csv", "wine.keras"]
