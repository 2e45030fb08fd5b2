"""`AffinityResult`: an averaged inter-task affinity matrix, its groupings and outputs."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Mapping, Sequence

import numpy as np

from mtl_keras._tables import format_table
from mtl_keras.affinity import grouping as grouping_lib

__all__ = ["AffinityResult"]


@dataclasses.dataclass(frozen=True)
class AffinityResult:
    """Inter-task affinities averaged over the measured training steps.

    `matrix[i, j]` is the mean over measured steps of
    `Z[i, j] = 1 - L_j(after a step on task i) / L_j(before)` (see
    `mtl_keras.affinity.lookahead_affinity`): row `i` is the task whose
    look-ahead step is taken, column `j` the task whose loss is watched.

    Attributes:
        task_names: The tasks, in matrix order.
        matrix: float64 `(n, n)`; NaN for a pair never measured.
        counts: int `(n, n)`: the number of steps each pair was measured on.
        learning_rate: The look-ahead learning rate given, or None (the
            optimizer's learning rate at each measured step).
        history: Optional: the `History.history` dict of the run.
    """

    task_names: tuple
    matrix: np.ndarray
    counts: np.ndarray
    learning_rate: float | None = None
    history: Mapping[str, list] | None = None

    def __post_init__(self):
        n = len(self.task_names)
        matrix = np.asarray(self.matrix, dtype=np.float64)
        counts = np.asarray(self.counts, dtype=np.int64)
        if matrix.shape != (n, n) or counts.shape != (n, n):
            raise ValueError(
                f"Expected a ({n}, {n}) matrix and counts for tasks {list(self.task_names)}. "
                f"Received: matrix shape {matrix.shape}, counts shape {counts.shape}")
        object.__setattr__(self, "task_names", tuple(self.task_names))
        object.__setattr__(self, "matrix", matrix)
        object.__setattr__(self, "counts", counts)

    # ------------------------------------------------------------ groupings
    def grouping(self, num_groups: int, method: str = "auto",
                 beam_width: int = 32) -> grouping_lib.Grouping:
        """The best partition into `num_groups` groups (see `best_grouping`).

        Raises:
            ValueError: A group count outside `[1, n]`, or a pair never measured.
        """
        return grouping_lib.best_grouping(self.matrix, self.task_names, num_groups,
                                          method=method, beam_width=beam_width)

    def groupings(self, method: str = "auto", beam_width: int = 32
                  ) -> list[grouping_lib.Grouping]:
        """The best grouping for every group count from 1 to `n` (see `best_groupings`)."""
        return grouping_lib.best_groupings(self.matrix, self.task_names, method=method,
                                           beam_width=beam_width)

    def recommended(self, method: str = "auto") -> grouping_lib.Grouping:
        """The highest-scoring grouping over every group count (ties: fewer groups)."""
        return grouping_lib.recommend(self.groupings(method=method))

    # -------------------------------------------------------------- outputs
    def matrix_table(self, markdown: bool = False) -> str:
        """The matrix as a table: one row per stepped task, one column per watched task."""
        rows = [[name] + ["-" if not np.isfinite(v) else f"{v:+.4f}" for v in row]
                for name, row in zip(self.task_names, self.matrix)]
        return format_table(["step on \\ loss of"] + list(self.task_names), rows,
                            markdown=markdown, align=["left"] + ["right"] * len(rows))

    def report(self, num_groups: int | None = None, markdown: bool = False) -> str:
        """A text report: the matrix, the best grouping per group count and the pick.

        Args:
            num_groups: Report this group count's best grouping as the pick
                instead of the highest-scoring one.
            markdown: Markdown tables instead of plain text.
        """
        groupings = self.groupings()
        pick = (grouping_lib.recommend(groupings) if num_groups is None
                else self.grouping(num_groups))
        rows = [[g.num_groups, " | ".join(", ".join(group) for group in g.groups),
                 f"{g.score:+.4f}"] for g in groupings]
        table = format_table(["groups", "best partition", "total affinity"], rows,
                             markdown=markdown, align=["right", "left", "right"])
        lr = ("the optimizer's learning rate" if self.learning_rate is None
              else f"learning rate {self.learning_rate:g}")
        steps = int(self.counts.max()) if self.counts.size else 0
        lines = [
            f"Inter-task affinity Z[i, j] = 1 - L_j(after a step on i) / L_j(before), "
            f"averaged over up to {steps} measured steps (look-ahead with {lr}):",
            "", self.matrix_table(markdown=markdown), "",
            "Best partition per number of groups (score: sum over tasks of the mean "
            "affinity onto each task from its group):", "", table, "",
            ("Recommended grouping:" if num_groups is None
             else f"Best grouping into {num_groups} groups:"), "", pick.report(markdown=markdown),
        ]
        return "\n".join(lines)

    def plot(self, path: str | os.PathLike, grouping: grouping_lib.Grouping | None = None,
             title: str | None = None) -> str:
        """Writes the heat-map PNG (see `mtl_keras.plotting.plot_affinity`); returns `path`."""
        from mtl_keras import plotting

        groups = None if grouping is None else grouping.groups
        return plotting.plot_affinity(self.matrix, self.task_names, path, groups=groups,
                                      title=title)

    def grouped_config(self, grouping: grouping_lib.Grouping | int | None = None,
                       base: Mapping[str, Any] | None = None) -> dict:
        """A run config for the grouped model: `base` with the architecture and groups set.

        Args:
            grouping: A `Grouping`, a group count (its best grouping), or None
                (the recommended grouping).
            base: Config fields to keep (e.g. the data, epochs and backbone
                of the affinity run); `architecture` and `groups` are replaced.

        Returns:
            A new dict: `{**base, "architecture": "grouped", "groups": [[...], ...]}`
            (the groups as `mtl_keras.build_grouped` takes them).
        """
        if grouping is None:
            grouping = self.recommended()
        elif not isinstance(grouping, grouping_lib.Grouping):
            grouping = self.grouping(grouping)
        config = dict(base or {})
        config["architecture"] = "grouped"
        config["groups"] = [list(g) for g in grouping.groups]
        return config

    # -------------------------------------------------------- serialization
    def to_dict(self) -> dict:
        """A JSON-ready dict (NaN written as None); `from_dict` reads it back."""
        return {
            "task_names": list(self.task_names),
            "matrix": [[None if not np.isfinite(v) else float(v) for v in row]
                       for row in self.matrix],
            "counts": self.counts.tolist(),
            "learning_rate": self.learning_rate,
        }

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> "AffinityResult":
        matrix = [[np.nan if v is None else v for v in row] for row in config["matrix"]]
        return cls(tuple(config["task_names"]), np.array(matrix, dtype=np.float64),
                   np.array(config["counts"], dtype=np.int64), config.get("learning_rate"))

    def save_json(self, path: str | os.PathLike) -> str:
        """Writes `to_dict()` as JSON; returns `path`."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2)
        return str(path)

    @classmethod
    def from_measures(cls, task_names: Sequence[str], totals, counts,
                      learning_rate: float | None = None, history=None) -> "AffinityResult":
        """Builds the result from summed affinities and measurement counts."""
        totals = np.asarray(totals, dtype=np.float64)
        counts = np.asarray(counts, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            matrix = np.where(counts > 0, totals / np.where(counts > 0, counts, 1.0), np.nan)
        return cls(tuple(task_names), matrix, np.rint(counts).astype(np.int64), learning_rate,
                   history)
