"""`ComparisonResult` on fixed numbers: tables, verdicts, JSON round trip, plot."""

import json
import math

import pytest

from mtl_keras.evaluation import ComparisonResult

SEEDS = [0, 1, 2]
SCORES = {
    "single_task": {"species": [0.80, 0.90, 0.50], "mass": [0.50, 0.40, 0.20]},
    # Δm per seed: +15, -5, +10 (see test_compare_stats).
    "hard": {"species": [0.88, 0.90, 0.60], "mass": [0.40, 0.44, 0.20]},
    # +10 % accuracy and the same MAE on every seed: Δm 5, 5, 5.
    "mmoe": {"species": [0.88, 0.99, 0.55], "mass": [0.50, 0.40, 0.20]},
}
COSTS = {
    "single_task": {"parameters": 400, "train_seconds": [2.0, 2.0, 2.0],
                    "latency_ms": [2.0, 2.0, 2.0]},
    "hard": {"parameters": 200, "train_seconds": [1.0, 1.0, 1.0], "latency_ms": [1.0, 1.0, 1.0]},
    "mmoe": {"parameters": 800, "train_seconds": [3.0, 3.0, 3.0], "latency_ms": [1.0, 2.0, 3.0]},
}


def make(**kwargs):
    return ComparisonResult(["species", "mass"], {"species": "accuracy", "mass": "mae"},
                            {"species": "max", "mass": "min"}, SEEDS, SCORES, COSTS, **kwargs)


def test_baseline_and_delta_m():
    result = make()
    assert result.baseline == "single_task" and result.models == ["single_task", "hard", "mmoe"]
    assert result.summary["hard"]["delta_m_values"] == pytest.approx([15.0, -5.0, 10.0])
    assert result.delta_m("mmoe").interval.mean == pytest.approx(5.0)
    with pytest.raises(ValueError, match="Expected a model among"):
        result.delta_m("single_task")


def test_verdicts():
    result = make()
    # hard: Δm 15, -5, 10 -> p = 0.38: a tie. mmoe: +10 % accuracy on every seed,
    # MAE unchanged: Δm 5, 5, 5 has no variance: the t-test is undefined -> tie.
    assert result.verdict("hard") == "tie"
    assert result.verdict("mmoe") == "tie"
    scores = {**SCORES, "mmoe": {"species": [0.88, 0.99, 0.56],
                                 "mass": [0.50, 0.40, 0.20]}}
    better = ComparisonResult(["species", "mass"], {"species": "accuracy", "mass": "mae"},
                              {"species": "max", "mass": "min"}, SEEDS, scores, COSTS)
    # Δm 5, 5, 6: mean 5.33, se 0.333, t = 16, p = 0.0039 < 0.05.
    assert better.delta_m("mmoe").t_pvalue == pytest.approx(1 - 16 / math.sqrt(258), rel=1e-6)
    assert better.verdict("mmoe") == "better"


def test_table_text():
    text = make(auxiliary=["sex"]).table()
    assert "species accuracy (higher is better)" in text
    assert "mass mae (lower is better)" in text
    # single-task species: mean 0.7333; hard Δm: +6.67 %.
    assert "0.7333 [" in text
    assert "+6.67 [" in text
    assert "hard: no clear difference from single_task" in text
    # Cost ratios: 200 / 400 parameters, 1 / 2 s, 1 / 2 ms.
    assert "0.50x the parameters, 0.50x the training time, 0.50x the latency" in text
    assert "single_task adds up its 2 models" in text
    assert "Auxiliary tasks (trained, not reported): sex" in text
    markdown = make().table(markdown=True)
    assert "| model | species accuracy (higher is better) |" in markdown


def test_json_round_trip_is_strict_json(tmp_path):
    scores = {m: dict(s) for m, s in SCORES.items()}
    scores["hard"] = {"species": [0.88, float("nan"), 0.60], "mass": [0.40, 0.44, 0.20]}
    result = ComparisonResult(["species", "mass"], {"species": "accuracy", "mass": "mae"},
                              {"species": "max", "mass": "min"}, SEEDS, scores, COSTS,
                              settings={"epochs": 3})
    path = result.save(tmp_path / "result.json")
    with open(path) as f:
        raw = json.load(f)  # strict JSON: a diverged seed is null, not NaN
    assert raw["scores"]["hard"]["species"][1] is None
    assert raw["summary"]["hard"]["delta_m"]["t_pvalue"] is None
    assert raw["summary"]["mmoe"]["verdict"] == "tie"
    assert raw["settings"] == {"epochs": 3}
    again = ComparisonResult.load(path)
    assert again.table() == result.table()
    assert math.isnan(again.scores["hard"]["species"][1])


def test_from_dict_needs_the_raw_numbers():
    with pytest.raises(ValueError, match="without \\['scores'"):
        ComparisonResult.from_dict({"tasks": ["a"], "metrics": {}, "directions": {},
                                    "seeds": [0, 1], "costs": {}})


def test_plot_writes_a_png(tmp_path):
    path = make().plot(tmp_path / "comparison.png")
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
