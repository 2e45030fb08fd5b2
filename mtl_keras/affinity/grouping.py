"""Task grouping: the best partition of the tasks into `g` groups, from an affinity matrix.

The objective is the one of Fifty et al., "Efficiently Identifying Task
Groupings for Multi-Task Learning" (NeurIPS 2021, network selection): each
task is scored by the mean affinity *onto* it from the other tasks of its
group,

    score(j | G) = mean over i in G, i != j of Z[i, j],

where `Z[i, j]` is how a step on task `i` changes task `j`'s loss (see
`lookahead_affinity`), and a grouping's score is the sum of its tasks'
scores. The paper selects (possibly overlapping) networks and excludes
single-task networks, which have no affinity to average; here every task
is in exactly one group (a partition, what `build_grouped` trains) and a
task alone scores 0: no other task's step moves its loss, the reference
point of `Z` itself. A task that every other task hurts is therefore best
alone.

Search:

* `"exact"`: dynamic programming over subsets (`O(3^n * g)` steps: a
  fraction of a second for 10 tasks, a few seconds for 12); the optimum.
* `"beam"`: beam search that assigns the tasks one at a time (keeping the
  `beam_width` best partial groupings by the partial objective), then local
  search (move one task, or swap two, while the score improves). No
  optimality guarantee; for many tasks.
* `"auto"` (default): exact up to `MAX_EXACT_TASKS` tasks, beam beyond.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Sequence

import numpy as np

from mtl_keras._tables import format_table
from mtl_keras._validators import check_choice, check_int

__all__ = ["MAX_EXACT_TASKS", "METHODS", "Grouping", "best_grouping", "best_groupings",
           "check_partition", "grouping_score", "recommend", "validate_affinity"]

#: Largest task count `method="auto"` searches exactly.
MAX_EXACT_TASKS = 10
METHODS = ("auto", "exact", "beam")


@dataclasses.dataclass(frozen=True)
class Grouping:
    """A partition of the tasks into groups, with its affinity score.

    Attributes:
        groups: The groups, each a tuple of task names (in task order; groups
            ordered by their first task).
        task_scores: `{task: mean affinity onto it from its group-mates}`
            (0 for a task alone).
        exact: Whether the search that found it was exact.
    """

    groups: tuple
    task_scores: Mapping[str, float]
    exact: bool = True

    @property
    def score(self) -> float:
        """The objective: the sum of the tasks' scores."""
        return float(sum(self.task_scores.values()))

    @property
    def num_groups(self) -> int:
        return len(self.groups)

    def group_of(self, task: str) -> tuple:
        """The group holding `task`."""
        for group in self.groups:
            if task in group:
                return group
        raise ValueError(f"Unknown task {task!r}. Expected one of {sorted(self.task_scores)}.")

    def to_dict(self) -> dict:
        """A JSON-ready dict (`from_dict` reads it back)."""
        return {"groups": [list(g) for g in self.groups],
                "task_scores": {k: float(v) for k, v in self.task_scores.items()},
                "score": self.score, "exact": self.exact}

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> "Grouping":
        return cls(tuple(tuple(g) for g in config["groups"]), dict(config["task_scores"]),
                   bool(config.get("exact", True)))

    def report(self, markdown: bool = False) -> str:
        """A table: each group's tasks and the affinity onto each."""
        rows = [[f"{k + 1}", task, f"{self.task_scores[task]:+.4f}"]
                for k, group in enumerate(self.groups) for task in group]
        table = format_table(["group", "task", "affinity onto task"], rows,
                             markdown=markdown, align=["right", "left", "right"])
        search = "exact search" if self.exact else "beam search (heuristic)"
        return f"{table}\n\ntotal affinity: {self.score:+.4f} ({search})"


def validate_affinity(matrix: Any, task_names: Sequence[str]) -> np.ndarray:
    """Checks an affinity matrix against its task names; returns it as float64.

    Raises:
        ValueError: Fewer than two tasks, duplicate names, a matrix that is
            not `(n, n)` for `n` names, or a non-finite entry (a pair never
            measured: NaN).
    """
    names = list(task_names)
    if len(names) < 2:
        raise ValueError(
            f"Expected at least two tasks to group. Received: task_names={names}")
    if len(set(names)) != len(names):
        raise ValueError(f"Expected distinct task names. Received: task_names={names}")
    z = np.asarray(matrix, dtype=np.float64)
    if z.shape != (len(names), len(names)):
        raise ValueError(
            f"Expected a ({len(names)}, {len(names)}) affinity matrix, one row and column per "
            f"task of {names}. Received: shape={z.shape}")
    off = ~np.eye(len(names), dtype=bool)
    bad = [(names[i], names[j]) for i, j in zip(*np.nonzero(~np.isfinite(z) & off))]
    if bad:
        raise ValueError(
            "Expected a finite affinity for every pair of distinct tasks. Received NaN or "
            f"inf for (from, onto) pairs {bad[:6]}{' ...' if len(bad) > 6 else ''}: pairs "
            "never measured (the two tasks never had labels in the same batch).")
    return z


def _task_scores(z, members):
    """Score of each task of one group (list of indices)."""
    if len(members) == 1:
        return {members[0]: 0.0}
    sub = z[np.ix_(members, members)]
    onto = np.where(np.eye(len(members), dtype=bool), 0.0, sub).sum(axis=0)
    return {j: float(s) / (len(members) - 1) for j, s in zip(members, onto)}


def grouping_score(matrix: Any, task_names: Sequence[str], groups: Sequence[Sequence[str]]
                   ) -> Grouping:
    """Scores a given partition (see the module docstring for the objective).

    Args:
        matrix: `(n, n)` affinities, `matrix[i, j]` from task `i` onto task `j`.
        task_names: The `n` task names, in matrix order.
        groups: A partition of `task_names`: lists of names, each task in
            exactly one.

    Returns:
        The `Grouping` (marked exact: nothing was searched).

    Raises:
        ValueError: A bad matrix (see `validate_affinity`) or groups that are
            not a partition of the tasks.

    Example:

    >>> z = [[1.0, 0.2, -0.1], [0.4, 1.0, -0.3], [-0.2, -0.1, 1.0]]
    >>> g = grouping_score(z, ["a", "b", "c"], [["a", "b"], ["c"]])
    >>> g.task_scores
    {'a': 0.4, 'b': 0.2, 'c': 0.0}
    """
    names = list(task_names)
    z = validate_affinity(matrix, names)
    index = check_partition(groups, names)
    return _make_grouping(z, names, index, exact=True)


def check_partition(groups: Any, task_names: Sequence[str]) -> list[list[int]]:
    """Validates that `groups` partitions `task_names`; returns the groups as index lists.

    Raises:
        ValueError: Not a list of non-empty lists of names, an unknown name,
            or a task in no group or in several.
    """
    names = list(task_names)
    if isinstance(groups, (str, bytes)) or not isinstance(groups, Sequence) or not groups or any(
            isinstance(g, (str, bytes)) or not isinstance(g, Sequence) or not g for g in groups):
        raise ValueError(
            "Expected groups to be a non-empty list of non-empty lists of task names, e.g. "
            f"[['a', 'b'], ['c']]. Received: groups={groups!r}")
    seen = [t for g in groups for t in g]
    unknown = sorted({t for t in seen if t not in names}, key=str)
    if unknown:
        raise ValueError(
            f"Expected groups of the tasks {names}. Received unknown task names {unknown} "
            f"in groups={groups!r}")
    twice = sorted({t for t in seen if seen.count(t) > 1})
    missing = [t for t in names if t not in seen]
    if twice or missing:
        raise ValueError(
            "Expected every task in exactly one group. Received: groups="
            f"{[list(g) for g in groups]!r} ("
            + "; ".join(part for part in (f"in several groups: {twice}" if twice else "",
                                          f"in no group: {missing}" if missing else "")
                        if part) + ")")
    return [[names.index(t) for t in g] for g in groups]


def _make_grouping(z, names, index_groups, exact):
    groups = sorted((sorted(g) for g in index_groups), key=lambda g: g[0])
    scores = {}
    for g in groups:
        scores.update(_task_scores(z, g))
    return Grouping(tuple(tuple(names[i] for i in g) for g in groups),
                    {names[i]: scores[i] for i in range(len(names))}, exact)


def best_grouping(matrix: Any, task_names: Sequence[str], num_groups: int,
                  method: str = "auto", beam_width: int = 32) -> Grouping:
    """The partition of the tasks into `num_groups` groups with the highest score.

    Args:
        matrix: `(n, n)` affinities, `matrix[i, j]` from task `i` onto task
            `j` (the diagonal is not used).
        task_names: The `n` task names, in matrix order.
        num_groups: Number of (non-empty) groups, from 1 to `n`.
        method: `"exact"`, `"beam"` or `"auto"` (see the module docstring).
        beam_width: Partial groupings kept per step of the beam search (>= 1).

    Returns:
        The best `Grouping` found (ties: the first in the search order).

    Raises:
        ValueError: A bad matrix (see `validate_affinity`), a group count
            outside `[1, n]`, an unknown method or a bad beam width.

    Example:

    >>> z = [[0.0, 0.3, -0.2, -0.1], [0.2, 0.0, -0.3, -0.2],
    ...      [-0.1, -0.2, 0.0, 0.1], [-0.3, -0.1, 0.4, 0.0]]
    >>> best_grouping(z, ["a", "b", "c", "d"], num_groups=2).groups
    (('a', 'b'), ('c', 'd'))
    """
    names = list(task_names)
    z = validate_affinity(matrix, names)
    n = len(names)
    num_groups = check_int(num_groups, "num_groups", min_value=1, max_value=n)
    check_choice(method, "method", METHODS)
    beam_width = check_int(beam_width, "beam_width", min_value=1)
    if method == "exact" or (method == "auto" and n <= MAX_EXACT_TASKS):
        return _make_grouping(z, names, _exact(z, num_groups)[num_groups], exact=True)
    return _make_grouping(z, names, _beam(z, num_groups, beam_width), exact=False)


def best_groupings(matrix: Any, task_names: Sequence[str], method: str = "auto",
                   beam_width: int = 32) -> list[Grouping]:
    """The best grouping for every group count, from 1 (all together) to `n` (all apart).

    One exact search gives every count at once. With the objective of this
    module the groupings' scores are comparable across counts: the highest
    is the recommended grouping (`recommend`).

    Args:
        matrix, task_names, method, beam_width: As for `best_grouping`.

    Returns:
        `n` groupings; entry `g - 1` has `g` groups.

    Example:

    >>> z = [[0.0, 0.3, -0.2], [0.2, 0.0, -0.3], [-0.1, -0.2, 0.0]]
    >>> [g.groups for g in best_groupings(z, ["a", "b", "c"])]
    [(('a', 'b', 'c'),), (('a', 'b'), ('c',)), (('a',), ('b',), ('c',))]
    """
    names = list(task_names)
    z = validate_affinity(matrix, names)
    check_choice(method, "method", METHODS)
    n = len(names)
    if method == "exact" or (method == "auto" and n <= MAX_EXACT_TASKS):
        return [_make_grouping(z, names, groups, exact=True)
                for _, groups in sorted(_exact(z, n).items())]
    return [best_grouping(z, names, g, method="beam", beam_width=beam_width)
            for g in range(1, n + 1)]


def recommend(groupings: Sequence[Grouping]) -> Grouping:
    """The highest-scoring grouping (on ties, the one with fewer groups).

    >>> z = [[0.0, 0.3, -0.2], [0.2, 0.0, -0.3], [-0.1, -0.2, 0.0]]
    >>> recommend(best_groupings(z, ["a", "b", "c"])).groups
    (('a', 'b'), ('c',))
    """
    if not groupings:
        raise ValueError("Expected at least one grouping. Received: groupings=[]")
    return max(sorted(groupings, key=lambda g: g.num_groups), key=lambda g: g.score)


# ------------------------------------------------------------------ exact
def _exact(z, max_groups):
    """Optimal partitions into 1..max_groups groups, by dynamic programming over subsets.

    Returns `{g: list of index groups}` for every feasible `g`.
    """
    n = len(z)
    full = (1 << n) - 1
    value = np.zeros(1 << n)
    for mask in range(1, 1 << n):
        members = [i for i in range(n) if mask >> i & 1]
        value[mask] = sum(_task_scores(z, members).values())
    # best[g][mask]: best score of splitting the tasks of `mask` into g groups;
    # choice[g][mask]: the group holding mask's lowest task in that split.
    best, choice = [{0: 0.0}], [{}]
    for g in range(1, max_groups + 1):
        best_g, choice_g = {}, {}
        previous = best[g - 1]
        for mask in range(1, full + 1):
            if bin(mask).count("1") < g:
                continue
            low = mask & -mask
            others = mask ^ low
            top, pick = -math.inf, None
            sub = others
            while True:  # every subset of the other tasks, plus the lowest one
                group = sub | low
                rest = mask ^ group
                if rest in previous:
                    score = value[group] + previous[rest]
                    if score > top:
                        top, pick = score, group
                if sub == 0:
                    break
                sub = (sub - 1) & others
            if pick is not None:
                best_g[mask], choice_g[mask] = top, pick
        best.append(best_g)
        choice.append(choice_g)
    out = {}
    for g in range(1, max_groups + 1):
        groups, mask = [], full
        for level in range(g, 0, -1):
            group = choice[level][mask]
            groups.append([i for i in range(n) if group >> i & 1])
            mask ^= group
        out[g] = groups
    return out


# ------------------------------------------------------------------- beam
def _score(z, groups):
    return sum(sum(_task_scores(z, g).values()) for g in groups if g)


def _beam(z, num_groups, width):
    """Beam search over task-by-task assignments, then local search."""
    n = len(z)
    beam = [()]  # partial groupings: tuples of tuples of task indices
    for task in range(n):
        remaining = n - task - 1
        candidates = {}
        for groups in beam:
            options = [groups[:k] + (groups[k] + (task,),) + groups[k + 1:]
                       for k in range(len(groups))]
            if len(groups) < num_groups:
                options.append(groups + ((task,),))
            for option in options:
                # Enough tasks left to open the missing groups.
                if num_groups - len(option) <= remaining:
                    key = tuple(sorted(option))
                    candidates.setdefault(key, option)
        ranked = sorted(candidates.values(), key=lambda g: -_score(z, g))
        beam = ranked[:width]
    return _local_search(z, [list(g) for g in beam[0]])


def _local_search(z, groups):
    """Moves one task or swaps two while the score improves (best improvement first).

    Every accepted change strictly raises the score, so the loop ends.
    """
    current = _score(z, groups)
    while True:
        best, best_groups = current, None
        for a, group in enumerate(groups):
            for task in group:
                for b in range(len(groups)):
                    if b == a:
                        continue
                    if len(group) > 1:  # move (keeps every group non-empty)
                        moved = [list(g) for g in groups]
                        moved[a].remove(task)
                        moved[b].append(task)
                        score = _score(z, moved)
                        if score > best:
                            best, best_groups = score, moved
                    for other in groups[b]:  # swap
                        swapped = [list(g) for g in groups]
                        swapped[a][swapped[a].index(task)] = other
                        swapped[b][swapped[b].index(other)] = task
                        score = _score(z, swapped)
                        if score > best:
                            best, best_groups = score, swapped
        if best_groups is None:
            return groups
        groups, current = best_groups, best
