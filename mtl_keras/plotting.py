"""Plots of a multi-task training run: task weights and per-task losses per epoch."""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence


def _history_dict(history: Any) -> dict:
    if isinstance(history, Mapping):
        return dict(history)
    if hasattr(history, "history") and isinstance(history.history, Mapping):
        return dict(history.history)
    raise TypeError(
        "Expected a `keras.callbacks.History` (what `fit` returns) or its `.history` "
        f"dict. Received: {type(history).__name__}"
    )


def task_names_in(history: Mapping[str, Sequence[float]]) -> list[str]:
    """Task names that have a `<task>_weight` entry in a history dict, in order."""
    return [k[: -len("_weight")] for k in history if k.endswith("_weight")
            and not k.startswith("val_")]


def plot_training(history: Any, path: str | os.PathLike, tasks: Sequence[str] | None = None,
                  title: str | None = None) -> str:
    """Draws each task's weight and training (and validation) loss per epoch to a PNG.

    Two panels share the epoch axis: on top the weight every task got (the
    `<task>_weight` logs, the mean over the epoch), below the per-task losses
    (`<task>_loss` solid, `val_<task>_loss` dashed, log scale when all are
    positive). Uses matplotlib's non-interactive Agg backend.

    Args:
        history: What `model.fit` returned, or its `.history` dict.
        path: The PNG file to write (its directory must exist).
        tasks: Task names to draw. Default: every task with a `<task>_weight` log.
        title: Optional figure title.

    Returns:
        `path`, as a string.

    Raises:
        TypeError: If `history` is not a History or a dict.
        ValueError: If a named task (or, by default, any task) has no
            `<task>_weight` and `<task>_loss` entries.

    Example:

    >>> import os, tempfile, mtl_keras as mtl
    >>> history = {"a_weight": [1.0, 0.8], "b_weight": [1.0, 1.2],
    ...            "a_loss": [0.9, 0.5], "b_loss": [2.0, 1.5]}
    >>> path = mtl.plotting.plot_training(history, os.path.join(tempfile.mkdtemp(), "w.png"))
    >>> os.path.getsize(path) > 0
    True
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    logs = _history_dict(history)
    names = list(tasks) if tasks is not None else task_names_in(logs)
    if not names:
        raise ValueError(
            "Expected a history with `<task>_weight` entries (from a MultiTaskModel's "
            f"fit). Received keys: {sorted(logs)}"
        )
    missing = [n for n in names if f"{n}_weight" not in logs or f"{n}_loss" not in logs]
    if missing:
        raise ValueError(
            f"Expected `<task>_weight` and `<task>_loss` in the history for tasks {missing}. "
            f"Received keys: {sorted(logs)}"
        )
    figure = Figure(figsize=(7, 6), dpi=100)
    weight_axes, loss_axes = figure.subplots(2, 1, sharex=True)
    positive = True
    for i, name in enumerate(names):
        color = f"C{i % 10}"
        weights = list(logs[f"{name}_weight"])
        epochs = list(range(1, len(weights) + 1))
        weight_axes.plot(epochs, weights, color=color, marker="o", label=name)
        for key, style in ((f"{name}_loss", "-"), (f"val_{name}_loss", "--")):
            if key in logs:
                values = list(logs[key])
                positive = positive and all(v > 0 for v in values)
                loss_axes.plot(range(1, len(values) + 1), values, style, color=color,
                               label=key)
    weight_axes.set_ylabel("task weight")
    weight_axes.legend(loc="best", fontsize="small")
    weight_axes.grid(alpha=0.3)
    loss_axes.set_ylabel("task loss")
    loss_axes.set_xlabel("epoch")
    loss_axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if positive:
        loss_axes.set_yscale("log")
    loss_axes.legend(loc="best", fontsize="small")
    loss_axes.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    path = str(path)
    figure.savefig(path, format="png")
    return path



def plot_affinity(matrix: Any, task_names: Sequence[str], path: str | os.PathLike,
                  groups: Sequence[Sequence[str]] | None = None,
                  title: str | None = None) -> str:
    """Draws an inter-task affinity matrix as a heat map PNG.

    Row `i` is the task whose look-ahead step was taken, column `j` the task
    whose loss was watched (`matrix[i, j]`, see
    `mtl_keras.affinity.lookahead_affinity`). Colors run from blue
    (negative: the step hurts) through white (0) to red (helps), on a scale
    set by the largest off-diagonal magnitude; the diagonal (a task's step
    on its own loss, usually much larger) is written but not colored. Each
    cell shows its value; NaN (never measured) shows `-`. With `groups`, the
    tasks are reordered group by group and each group is outlined.

    Args:
        matrix: `(n, n)` affinities (an array or nested lists).
        task_names: The `n` task names, in matrix order.
        path: The PNG file to write (its directory must exist).
        groups: Optional partition of the task names to outline.
        title: Optional figure title.

    Returns:
        `path`, as a string.

    Raises:
        ValueError: A matrix that is not `(n, n)` for the `n` names, or
            groups that are not a partition of them.

    Example:

    >>> import os, tempfile, mtl_keras as mtl
    >>> z = [[0.5, 0.2, -0.1], [0.1, 0.4, -0.2], [-0.1, -0.3, 0.6]]
    >>> path = mtl.plotting.plot_affinity(z, ["a", "b", "c"],
    ...                                   os.path.join(tempfile.mkdtemp(), "z.png"),
    ...                                   groups=[["a", "b"], ["c"]])
    >>> os.path.getsize(path) > 0
    True
    """
    import matplotlib
    import numpy as np

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    from mtl_keras.affinity.grouping import check_partition

    names = list(task_names)
    z = np.asarray(matrix, dtype=np.float64)
    if z.shape != (len(names), len(names)):
        raise ValueError(
            f"Expected a ({len(names)}, {len(names)}) affinity matrix for tasks {names}. "
            f"Received: shape={z.shape}")
    order = list(range(len(names)))
    blocks = []
    if groups is not None:
        index = check_partition(groups, names)
        order = [i for g in index for i in g]
        start = 0
        for g in index:
            blocks.append((start, len(g)))
            start += len(g)
    z = z[np.ix_(order, order)]
    labels = [names[i] for i in order]
    n = len(labels)
    off = ~np.eye(n, dtype=bool) & np.isfinite(z)
    scale = float(np.max(np.abs(z[off]))) if off.any() else 1.0
    scale = scale if scale > 0 else 1.0
    shown = np.where(off, z, np.nan)
    size = max(4.0, 0.7 * n + 2.0)
    figure = Figure(figsize=(size + 1.0, size), dpi=100)
    axes = figure.subplots()
    image = axes.imshow(np.ma.masked_invalid(shown), cmap="coolwarm", vmin=-scale, vmax=scale)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04,
                    label="affinity 1 - L_j(after) / L_j(before)")
    for i in range(n):
        for j in range(n):
            value = z[i, j]
            text = "-" if not np.isfinite(value) else f"{value:.2g}"
            axes.text(j, i, text, ha="center", va="center", fontsize="small",
                      color="dimgray" if i == j else "black")
    for start, length in blocks:
        axes.add_patch(Rectangle((start - 0.5, start - 0.5), length, length, fill=False,
                                 edgecolor="black", linewidth=2.0))
    axes.set_xticks(range(n), labels, rotation=45, ha="right")
    axes.set_yticks(range(n), labels)
    axes.set_xlabel("loss of task j")
    axes.set_ylabel("step on task i")
    if title:
        axes.set_title(title)
    figure.tight_layout()
    path = str(path)
    figure.savefig(path, format="png")
    return path


def plot_gradient_conflict(history: Any, path: str | os.PathLike,
                           title: str | None = None) -> str:
    """Draws the per-epoch gradient cosine and conflict rate of every task pair to a PNG.

    Reads the `grad_cosine/<i>_vs_<j>` and `grad_conflict/<i>_vs_<j>`
    entries that `mtl_keras.affinity.GradientConflict` logs: on top the mean
    cosine similarity per epoch (a dashed line at 0), below the fraction of
    measured steps with conflicting (negative-cosine) gradients.

    Args:
        history: What `model.fit` returned, or its `.history` dict.
        path: The PNG file to write (its directory must exist).
        title: Optional figure title.

    Returns:
        `path`, as a string.

    Raises:
        TypeError: If `history` is not a History or a dict.
        ValueError: If it has no `grad_cosine/...` entries.

    Example:

    >>> import os, tempfile, mtl_keras as mtl
    >>> history = {"grad_cosine/a_vs_b": [0.3, 0.1], "grad_conflict/a_vs_b": [0.2, 0.4]}
    >>> path = mtl.plotting.plot_gradient_conflict(
    ...     history, os.path.join(tempfile.mkdtemp(), "c.png"))
    >>> os.path.getsize(path) > 0
    True
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    logs = _history_dict(history)
    pairs = [k[len("grad_cosine/"):] for k in logs if k.startswith("grad_cosine/")]
    if not pairs:
        raise ValueError(
            "Expected a history with `grad_cosine/<i>_vs_<j>` entries (from "
            f"mtl_keras.affinity.GradientConflict). Received keys: {sorted(logs)}")
    figure = Figure(figsize=(7, 6), dpi=100)
    cosine_axes, conflict_axes = figure.subplots(2, 1, sharex=True)
    for k, pair in enumerate(pairs):
        color = f"C{k % 10}"
        label = pair.replace("_vs_", " vs ")
        cosines = list(logs[f"grad_cosine/{pair}"])
        epochs = list(range(1, len(cosines) + 1))
        cosine_axes.plot(epochs, cosines, color=color, marker="o", label=label)
        conflict = logs.get(f"grad_conflict/{pair}")
        if conflict is not None:
            conflict_axes.plot(range(1, len(conflict) + 1), list(conflict), color=color,
                               marker="o", label=label)
    cosine_axes.axhline(0.0, color="gray", linestyle="--", linewidth=1.0)
    cosine_axes.set_ylabel("mean gradient cosine")
    cosine_axes.legend(loc="best", fontsize="small")
    cosine_axes.grid(alpha=0.3)
    conflict_axes.set_ylabel("fraction of steps in conflict")
    conflict_axes.set_ylim(-0.05, 1.05)
    conflict_axes.set_xlabel("epoch")
    conflict_axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    conflict_axes.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    path = str(path)
    figure.savefig(path, format="png")
    return path


__all__ = [
    "plot_affinity",
    "plot_gradient_conflict",
    "plot_training",
    "task_names_in",
]
