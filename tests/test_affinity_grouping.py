"""Task grouping from an affinity matrix: exact search, beam search, scores, results, plots."""

import json

import numpy as np
import pytest

import mtl_keras as mtl
from mtl_keras.affinity import (
    AffinityResult,
    Grouping,
    best_grouping,
    best_groupings,
    grouping_score,
    recommend,
)


def partitions(items):
    """Every set partition of `items` (an independent brute force)."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in partitions(rest):
        yield [[first]] + part
        for k in range(len(part)):
            yield part[:k] + [[first] + part[k]] + part[k + 1:]


def brute_force_score(z, num_groups):
    """Best objective over all partitions into `num_groups` groups, computed directly."""
    n = len(z)
    best = -np.inf
    for part in partitions(list(range(n))):
        if len(part) != num_groups:
            continue
        total = 0.0
        for group in part:
            for j in group:
                others = [i for i in group if i != j]
                total += np.mean([z[i][j] for i in others]) if others else 0.0
        best = max(best, total)
    return best


def names(n):
    return [f"t{i}" for i in range(n)]


def test_grouping_score_by_hand():
    z = [[9.0, 0.2, -0.1, 0.5],
         [0.4, 9.0, -0.3, 0.1],
         [-0.2, -0.1, 9.0, 0.3],
         [0.6, 0.0, 0.2, 9.0]]
    g = grouping_score(z, ["a", "b", "c", "d"], [["a", "b", "d"], ["c"]])
    # Onto a: mean(z[b][a], z[d][a]) = (0.4 + 0.6) / 2; onto b: (0.2 + 0.0) / 2;
    # onto d: (0.5 + 0.1) / 2; c alone: 0. The diagonal never counts.
    assert g.task_scores == pytest.approx({"a": 0.5, "b": 0.1, "c": 0.0, "d": 0.3})
    assert g.score == pytest.approx(0.9)
    assert g.groups == (("a", "b", "d"), ("c",))
    assert g.group_of("d") == ("a", "b", "d")


def test_exact_search_matches_brute_force():
    rng = np.random.default_rng(0)
    for n, _ in [(n, trial) for n in range(2, 8) for trial in range(4)]:
        z = rng.normal(size=(n, n))
        for g in range(1, n + 1):
            found = best_grouping(z, names(n), g, method="exact")
            assert found.num_groups == g and found.exact
            assert found.score == pytest.approx(brute_force_score(z, g), abs=1e-12)
            # The reported score is the score of the reported groups.
            assert grouping_score(z, names(n), found.groups).score == pytest.approx(found.score)


def test_best_groupings_gives_every_count_and_recommend_picks_the_highest():
    rng = np.random.default_rng(7)
    z = rng.normal(size=(6, 6))
    every = best_groupings(z, names(6))
    assert [g.num_groups for g in every] == [1, 2, 3, 4, 5, 6]
    for g in every:
        assert g.score == pytest.approx(brute_force_score(z, g.num_groups), abs=1e-12)
    assert recommend(every).score == max(g.score for g in every)


def test_recommend_prefers_fewer_groups_on_ties():
    zero = np.zeros((3, 3))
    assert recommend(best_groupings(zero, names(3))).num_groups == 1


def planted(n, blocks, seed):
    """Affinity +1 within blocks, -1 across, plus small noise."""
    rng = np.random.default_rng(seed)
    label = np.repeat(np.arange(blocks), n // blocks)
    z = np.where(label[:, None] == label[None, :], 1.0, -1.0) + 0.1 * rng.normal(size=(n, n))
    expected = tuple(tuple(f"t{i}" for i in range(n) if label[i] == b) for b in range(blocks))
    return z, expected


def test_beam_search_recovers_planted_groups_beyond_exact_size():
    z, expected = planted(12, 3, seed=0)
    found = best_grouping(z, names(12), 3)   # auto: 12 > MAX_EXACT_TASKS
    assert not found.exact
    assert found.groups == expected
    assert found.score == pytest.approx(best_grouping(z, names(12), 3, method="exact").score)


def test_beam_search_never_beats_exact_and_returns_partitions():
    rng = np.random.default_rng(3)
    for n in (5, 7):
        z = rng.normal(size=(n, n))
        for g in range(1, n + 1):
            beam = best_grouping(z, names(n), g, method="beam", beam_width=2)
            assert sorted(t for group in beam.groups for t in group) == sorted(names(n))
            assert beam.num_groups == g
            assert beam.score <= best_grouping(z, names(n), g, method="exact").score + 1e-12


def test_bad_input():
    z = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"num_groups to be an int in \[1, 3\]. Received: "
                                         r"num_groups=4"):
        best_grouping(z, names(3), 4)
    with pytest.raises(ValueError, match="num_groups=0"):
        best_grouping(z, names(3), 0)
    with pytest.raises(ValueError, match="num_groups=1.5"):
        best_grouping(z, names(3), 1.5)
    with pytest.raises(ValueError, match=r"at least two tasks to group. Received: "
                                         r"task_names=\['t0'\]"):
        best_grouping(np.zeros((1, 1)), names(1), 1)
    with pytest.raises(ValueError, match=r"Expected a \(3, 3\) affinity matrix.*shape=\(2, 2\)"):
        best_grouping(np.zeros((2, 2)), names(3), 1)
    nan = np.zeros((3, 3))
    nan[0, 2] = np.nan
    with pytest.raises(ValueError, match=r"pairs \[\('t0', 't2'\)\]: pairs never measured"):
        best_grouping(nan, names(3), 2)
    diagonal_nan = np.where(np.eye(3, dtype=bool), np.nan, 0.0)
    assert best_grouping(diagonal_nan, names(3), 2).num_groups == 2   # the diagonal is unused
    with pytest.raises(ValueError, match="Expected method to be one of"):
        best_grouping(z, names(3), 2, method="greedy")
    with pytest.raises(ValueError, match="beam_width"):
        best_grouping(z, names(3), 2, beam_width=0)


def test_partition_errors():
    for groups, message in [
        ([["t0", "t1"]], r"in no group: \['t2'\]"),
        ([["t0", "t1"], ["t1", "t2"]], r"in several groups: \['t1'\]"),
        ([["t0", "x"], ["t1", "t2"]], r"unknown task names \['x'\]"),
        ([["t0", "t1", "t2"], []], "non-empty lists"),
        ("t0", "non-empty lists"),
    ]:
        with pytest.raises(ValueError, match=message):
            grouping_score(np.zeros((3, 3)), names(3), groups)


def test_grouping_dict_round_trip_and_report():
    z = np.array([[0.0, 0.3, -0.2], [0.2, 0.0, -0.3], [-0.1, -0.2, 0.0]])
    g = best_grouping(z, ["a", "b", "c"], 2)
    again = Grouping.from_dict(json.loads(json.dumps(g.to_dict())))
    assert again == g
    text = g.report()
    # Onto a: z[b][a] = 0.2; onto b: z[a][b] = 0.3; c alone: 0.
    assert "total affinity: +0.5000 (exact search)" in text
    assert text.splitlines()[2].split() == ["1", "a", "+0.2000"]


def result():
    totals = np.array([[1.0, 0.6, -0.4], [0.4, 2.0, -0.2], [-0.6, 0.0, 0.0]])
    counts = np.array([[2, 2, 2], [2, 2, 2], [2, 2, 0]])
    return AffinityResult.from_measures(["a", "b", "c"], totals, counts, learning_rate=0.01)


def test_affinity_result_means_groupings_and_config():
    r = result()
    np.testing.assert_allclose(r.matrix[:2], [[0.5, 0.3, -0.2], [0.2, 1.0, -0.1]])
    assert np.isnan(r.matrix[2, 2]) and r.counts[2, 2] == 0
    assert r.recommended().groups == (("a", "b"), ("c",))
    assert r.grouping(1).score == pytest.approx((0.2 - 0.3) / 2 + (0.3 + 0.0) / 2
                                                + (-0.2 - 0.1) / 2)
    config = r.grouped_config(base={"data": "penguins", "architecture": "hard_sharing"})
    assert config == {"data": "penguins", "architecture": "grouped", "groups": [["a", "b"], ["c"]]}
    assert r.grouped_config(3)["groups"] == [["a"], ["b"], ["c"]]
    again = AffinityResult.from_dict(json.loads(json.dumps(r.to_dict())))
    np.testing.assert_array_equal(again.counts, r.counts)
    np.testing.assert_allclose(again.matrix, r.matrix)   # NaN where never measured, both


def test_affinity_result_report_and_plots(tmp_path):
    r = result()
    text = r.report()
    assert "learning rate 0.01" in text and "Recommended grouping:" in text
    assert "a, b | c" in text
    assert r.matrix_table().splitlines()[4].split()[-1] == "-"   # c onto c: never measured
    png = r.plot(tmp_path / "z.png", grouping=r.recommended(), title="affinity")
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    saved = r.save_json(tmp_path / "z.json")
    assert AffinityResult.from_dict(json.load(open(saved))).task_names == ("a", "b", "c")


def test_plot_helpers(tmp_path):
    path = mtl.plotting.plot_gradient_conflict(
        {"grad_cosine/a_vs_b": [0.2, -0.1], "grad_conflict/a_vs_b": [0.25, 0.5], "loss": [1, 1]},
        tmp_path / "c.png")
    with open(path, "rb") as f:
        assert f.read(4) == b"\x89PNG"
    with pytest.raises(ValueError, match="grad_cosine"):
        mtl.plotting.plot_gradient_conflict({"loss": [1.0]}, tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"Expected a \(2, 2\) affinity matrix"):
        mtl.plotting.plot_affinity(np.zeros((3, 3)), ["a", "b"], tmp_path / "x.png")
    with pytest.raises(ValueError, match="in no group"):
        mtl.plotting.plot_affinity(np.zeros((2, 2)), ["a", "b"], tmp_path / "x.png",
                                   groups=[["a"]])
