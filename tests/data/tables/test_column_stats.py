"""Streaming statistics: merged batch by batch, equal to the statistics of the whole column."""

import numpy as np

from mtl_keras.data.tables.column_stats import FirstSeen, NumberStats, ValueCounts


def test_number_stats_merge_equals_whole_column():
    rng = np.random.default_rng(0)
    column = rng.normal(1000.0, 3.0, size=1001)
    column[::10] = np.nan
    stats = NumberStats()
    for batch in np.array_split(column, 7):
        stats.update(batch)
    present = column[~np.isnan(column)]
    assert stats.count == present.size == 900
    np.testing.assert_allclose(stats.mean, present.mean(), rtol=1e-12)
    np.testing.assert_allclose(stats.variance, present.var(), rtol=1e-9)
    assert not stats.whole


def test_number_stats_distinct_values_are_capped():
    stats = NumberStats(max_distinct=3)
    stats.update(np.array([0.0, 1.0, 1.0, 2.0]))
    assert stats.distinct == {0.0, 1.0, 2.0} and not stats.too_many and stats.whole
    stats.update(np.array([3.0]))
    assert stats.too_many and stats.distinct == set()


def test_value_counts_order_and_cap():
    counts = ValueCounts(cap=2)
    counts.update(np.array([b"b", b"a", b"a"]))
    counts.update(np.array([b"c", b"b", b"b"]))
    # b: 3, a: 2; c arrives after the cap and is not counted.
    assert counts.counts == {b"a": 2, b"b": 3} and counts.too_many
    assert counts.most_common() == [b"b", b"a"]
    assert counts.most_common(1) == [b"b"]
    ties = ValueCounts()
    ties.update(np.array([3, 1, 2]))
    assert ties.most_common() == [1, 2, 3]


def test_first_seen_keeps_the_first_location():
    seen = FirstSeen()
    seen.update(np.array([b"x", b"y", b"x"]), lambda i: f"row {i}")
    seen.update(np.array([b"y", b"z"]), lambda i: f"row {10 + i}")
    assert seen.where == {b"x": "row 0", b"y": "row 1", b"z": "row 11"}
