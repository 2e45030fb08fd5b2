"""The Pareto front of trials over per-task metrics."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from mtl_keras._validators import check_choice

__all__ = ["pareto_front"]


def pareto_front(points: Sequence[Mapping[str, float]],
                 directions: Mapping[str, str]) -> list[int]:
    """Indices of the non-dominated points.

    Point `a` dominates `b` when it is at least as good on every metric and
    strictly better on one, each metric compared in its direction. Points with
    a missing or non-finite value are never on the front; equal points are
    both kept.

    Args:
        points: One `{metric: value}` per trial.
        directions: `{metric: "min"|"max"}`, the metrics compared.

    Returns:
        Sorted indices into `points`.

    Example:

    >>> pts = [{"acc": 0.9, "mae": 0.3}, {"acc": 0.8, "mae": 0.2},
    ...        {"acc": 0.8, "mae": 0.4}]
    >>> pareto_front(pts, {"acc": "max", "mae": "min"})
    [0, 1]
    """
    keys = list(directions)
    for k in keys:
        check_choice(directions[k], f"the direction of {k}", ("min", "max"))
    signs = np.array([1.0 if directions[k] == "max" else -1.0 for k in keys])
    rows = []
    for p in points:
        try:
            v = np.array([float(p[k]) for k in keys])
        except (KeyError, TypeError, ValueError):
            v = np.full(len(keys), np.nan)
        rows.append(v * signs)  # larger is better for every column now
    front = []
    for i, a in enumerate(rows):
        if not np.all(np.isfinite(a)):
            continue
        dominated = any(
            np.all(np.isfinite(b)) and np.all(b >= a) and np.any(b > a)
            for j, b in enumerate(rows) if j != i
        )
        if not dominated:
            front.append(i)
    return front
