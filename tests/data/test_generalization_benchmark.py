"""benchmarks/generalization.py's bookkeeping: Δm, the summary and resuming a run."""

import importlib.util
import json
import os

import numpy as np
import pytest

import mtl_keras as mtl
from mtl_keras.evaluation import delta_m

PATH = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "generalization.py")


@pytest.fixture
def bench():
    spec = importlib.util.spec_from_file_location("generalization_benchmark", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_delta_m_and_summary_by_hand(bench):
    # left: (72 - 80) / 80 = -10 %, right: (66 - 60) / 60 = +10 %: Δm = 0.
    assert delta_m({"left": 72.0, "right": 66.0}, {"left": 80.0, "right": 60.0},
                   bench.DIRECTIONS) == pytest.approx(0.0)
    rows = [dict(size=10, seed=s, arch="single", method="-", left=80.0, right=60.0)
            for s in (0, 1)]
    rows += [dict(size=10, seed=0, arch="hard", method="equal", left=88.0, right=60.0),
             dict(size=10, seed=1, arch="hard", method="equal", left=80.0, right=54.0)]
    (single,), (hard,) = ([r for r in bench.summarize(rows) if r["arch"] == a]
                          for a in ("single", "hard"))
    assert single["delta_m"] == pytest.approx(0.0)
    # seed 0: (+10 % + 0) / 2 = +5 %; seed 1: (0 - 10 %) / 2 = -5 %.
    assert hard["delta_m"] == pytest.approx(0.0) and hard["delta_m_std"] == pytest.approx(5.0)
    assert hard["left"] == pytest.approx(84.0) and hard["left_std"] == pytest.approx(4.0)


def test_every_run_is_logged_and_resume_trains_only_the_missing(bench, tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(40, 28, 28)).astype("float32")
    labels = {t: rng.integers(0, 10, 40).astype("int32") for t in ("left", "right")}
    monkeypatch.setattr(mtl.data, "load_multifashion",
                        lambda split, path=None, seed=0, num_examples=None: (images, labels))
    calls = []

    def fake_train_eval(arch, method, tasks, train, test, epochs, batch_size, seed, lr):
        calls.append((arch, method, len(tasks)))
        return {t.name: 50.0 + seed for t in tasks}

    monkeypatch.setattr(bench, "train_eval", fake_train_eval)
    out = str(tmp_path / "g")
    argv = ["--sizes", "20", "--seeds", "0", "1", "--methods", "equal", "pcgrad",
            "--archs", "single", "hard", "--epochs", "1", "--out", out]
    args = bench.parse_args(argv)
    results, _ = bench.run(args)
    # Per seed: two single-task models (one per task), then hard x 2 methods.
    assert len(calls) == 2 * (2 + 2) and len(results) == 2 * 3
    with open(out + ".jsonl") as f:
        logged = [json.loads(line) for line in f]
    assert [(r["seed"], r["arch"], r["method"]) for r in logged] == [
        (s, a, m) for s in (0, 1) for a, m in (("single", "-"), ("hard", "equal"),
                                               ("hard", "pcgrad"))]
    # An interrupted run: drop the last two rows, resume, and only those are trained.
    with open(out + ".jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in logged[:-2])
    calls.clear()
    results, _ = bench.run(bench.parse_args(argv + ["--resume"]))
    assert calls == [("hard", "equal", 2), ("hard", "pcgrad", 2)]
    assert len(results) == 6
    assert bench.main(["--from-json", out + ".jsonl", "--out", str(tmp_path / "m")]) == 0
    assert os.path.exists(tmp_path / "m.md") and os.path.exists(tmp_path / "m.png")


def test_processes_sharing_a_log_skip_what_the_other_finished(bench, tmp_path, monkeypatch):
    images = np.zeros((40, 28, 28), "float32")
    labels = {t: np.zeros(40, "int32") for t in ("left", "right")}
    monkeypatch.setattr(mtl.data, "load_multifashion",
                        lambda split, path=None, seed=0, num_examples=None: (images, labels))
    out = str(tmp_path / "g")
    calls = []

    def fake_train_eval(arch, method, tasks, train, test, epochs, batch_size, seed, lr):
        calls.append((arch, method))
        if arch == "hard":
            # Meanwhile another process, sharing the log, finishes hard/pcgrad.
            with open(out + ".jsonl", "a") as f:
                f.write(json.dumps(dict(size=20, seed=0, arch="hard", method="pcgrad",
                                        epochs=1, seconds=1.0, left=1.0, right=2.0)) + "\n")
        return {t.name: 50.0 for t in tasks}

    monkeypatch.setattr(bench, "train_eval", fake_train_eval)
    argv = ["--sizes", "20", "--seeds", "0", "--methods", "equal", "pcgrad",
            "--archs", "hard", "--epochs", "1", "--out", out, "--resume"]
    results, _ = bench.run(bench.parse_args(argv))
    assert calls == [("single", "equal"), ("single", "equal"), ("hard", "equal")]
    assert [(r["method"], r["left"]) for r in results] == [("-", 50.0), ("equal", 50.0),
                                                           ("pcgrad", 1.0)]
