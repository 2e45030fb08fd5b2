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


__all__ = [
    "plot_training",
    "task_names_in",
]
