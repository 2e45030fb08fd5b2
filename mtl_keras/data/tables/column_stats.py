"""Streaming statistics of table columns, updated batch by batch in one pass.

Memory is bounded by what the statistic needs, never by the number of rows:
a few numbers for `NumberStats`, one counter per distinct value for
`ValueCounts` (capped when only "more than k values" matters).
"""

from __future__ import annotations

import numpy as np


class NumberStats:
    """Count, mean and variance (population) of the non-NaN values, merged per batch
    (Chan, Golub & LeVeque's pairwise update, in float64), plus whether every
    value is a whole number and up to `max_distinct` distinct values.

    Example:

    >>> import numpy as np
    >>> from mtl_keras.data.tables.column_stats import NumberStats
    >>> s = NumberStats(max_distinct=5)
    >>> s.update(np.array([1.0, 2.0, np.nan])); s.update(np.array([6.0]))
    >>> s.count, s.mean, s.variance, s.whole, sorted(s.distinct)
    (3, 3.0, 4.666666666666667, True, [1.0, 2.0, 6.0])
    """

    def __init__(self, max_distinct: int = 0):
        self.count, self.mean, self.m2 = 0, 0.0, 0.0
        self.whole = True
        self.max_distinct = max_distinct
        self.distinct: set[float] = set()
        self.too_many = False

    def update(self, values: np.ndarray) -> None:
        values = values[~np.isnan(values)]
        n = values.size
        if n == 0:
            return
        mean = float(values.mean())
        m2 = float(((values - mean) ** 2).sum())
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.count * n / total
        self.count = total
        self.whole = self.whole and bool(np.all(values == np.round(values)))
        if self.max_distinct and not self.too_many:
            self.distinct.update(np.unique(values).tolist())
            if len(self.distinct) > self.max_distinct:
                self.too_many, self.distinct = True, set()

    @property
    def variance(self) -> float:
        return self.m2 / self.count if self.count else float("nan")


class ValueCounts:
    """Occurrences of each value (bytes or ints); stops adding new values past `cap`.

    Example:

    >>> import numpy as np
    >>> from mtl_keras.data.tables.column_stats import ValueCounts
    >>> c = ValueCounts()
    >>> c.update(np.array([b"b", b"a", b"b"])); c.update(np.array([b"c"]))
    >>> c.most_common()
    [b'b', b'a', b'c']
    """

    def __init__(self, cap: int | None = None):
        self.counts: dict = {}
        self.cap = cap
        self.too_many = False

    def update(self, values: np.ndarray) -> None:
        if values.size == 0:
            return
        keys, counts = np.unique(values, return_counts=True)
        for key, n in zip(keys.tolist(), counts.tolist()):
            if key in self.counts:
                self.counts[key] += n
            elif self.cap is None or len(self.counts) < self.cap:
                self.counts[key] = n
            else:
                self.too_many = True

    def most_common(self, limit: int | None = None) -> list:
        """Values by decreasing count, ties by value (deterministic)."""
        ordered = sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return [k for k, _ in ordered[:limit]]

    def __len__(self):
        return len(self.counts)


class FirstSeen:
    """Where each distinct value was first seen (up to `cap` values)."""

    def __init__(self, cap: int = 10_000):
        self.where: dict = {}
        self.cap = cap

    def update(self, values: np.ndarray, locate) -> None:
        """`locate(i)` gives the location of `values[i]`."""
        if values.size == 0 or len(self.where) >= self.cap:
            return
        keys, first = np.unique(values, return_index=True)
        for key, i in zip(keys.tolist(), first.tolist()):
            if key not in self.where and len(self.where) < self.cap:
                self.where[key] = locate(i)
