"""Text summary and PNG plot of a loss-weight search."""

from __future__ import annotations

from typing import Mapping, Sequence

from mtl_keras._tables import format_table
from mtl_keras.tuning.pareto import pareto_front

__all__ = ["plot_trials", "summary_text"]


def summary_text(results: Sequence, task_names: Sequence[str], objective) -> str:
    """A table of trials: id, status, weights, objective, every validation metric.

    Args:
        results: `TrialResult`s.
        task_names: Task order of the weight columns.
        objective: The search's `Objective` (its name heads the score column).

    Returns:
        The table, a legend and the best trial's weights.
    """
    metric_keys = sorted({k for r in results for k in r.metrics if k != objective.name})
    headers = (["trial", "status"] + [f"w_{n}" for n in task_names] + [objective.name]
               + metric_keys + ["front"])
    rows = []
    for r in results:
        rows.append(
            [r.trial_id, r.status]
            + [r.weights.get(n) for n in task_names]
            + [r.score]
            + [r.metrics.get(k) for k in metric_keys]
            + ["*" if r.on_pareto_front else ""]
        )
    lines = format_table(headers, rows).splitlines()
    done = [r for r in results if r.status == "COMPLETED" and r.score is not None]
    n_front = sum(r.on_pareto_front for r in results)
    lines.append(f"{len(done)} completed trial(s) of {len(results)}; {n_front} on the Pareto "
                 "front (*)")
    if done:
        sign = 1.0 if objective.direction == "max" else -1.0
        best = max(done, key=lambda r: sign * r.score)
        weights = ", ".join(f"{n}={best.weights[n]:.4g}" for n in task_names if n in best.weights)
        lines.append(f"best trial {best.trial_id} ({objective.name}={best.score:.4f}, "
                     f"{objective.direction}): weights {weights}")
    return "\n".join(lines)


def plot_trials(results: Sequence, directions: Mapping[str, str], path: str) -> str:
    """Writes a PNG scatter of trials over 2 or 3 metrics, the Pareto front highlighted.

    Two metrics: one scatter with the front drawn as a step line. Three: the
    three pairwise scatters; a trial on the (3-metric) front is highlighted in
    each.

    Args:
        results: Completed `TrialResult`s.
        directions: `{val metric key: "min"|"max"}`, 2 or 3 entries.
        path: Output PNG path.

    Returns:
        `path`.

    Raises:
        ValueError: For fewer than 2 or more than 3 metrics.
    """
    keys = list(directions)
    if not 2 <= len(keys) <= 3:
        raise ValueError(f"Expected 2 or 3 metrics to plot. Received: {keys}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [r.metrics for r in results]
    front = set(pareto_front(points, directions))
    pairs = [(0, 1)] if len(keys) == 2 else [(0, 1), (0, 2), (1, 2)]
    fig, axes = plt.subplots(1, len(pairs), figsize=(5 * len(pairs), 4.2), squeeze=False)
    for ax, (i, j) in zip(axes[0], pairs):
        xi, yj = keys[i], keys[j]
        ok = [n for n, p in enumerate(points) if xi in p and yj in p]
        xs = [points[n][xi] for n in ok]
        ys = [points[n][yj] for n in ok]
        ax.scatter(xs, ys, c="0.6", s=28, label="trials")
        fx = [points[n][xi] for n in ok if n in front]
        fy = [points[n][yj] for n in ok if n in front]
        ax.scatter(fx, fy, c="tab:red", s=60, edgecolors="k", label="Pareto front")
        if len(keys) == 2 and fx:
            order = sorted(range(len(fx)), key=lambda k: fx[k])
            ax.plot([fx[k] for k in order], [fy[k] for k in order], c="tab:red", lw=1)
        for n in ok:
            ax.annotate(results[n].trial_id, (points[n][xi], points[n][yj]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel(f"{xi} ({_arrow(directions[xi])})")
        ax.set_ylabel(f"{yj} ({_arrow(directions[yj])})")
        ax.tick_params(axis="x", labelrotation=30)
        ax.grid(alpha=0.3)
    axes[0][0].legend(loc="best", fontsize=8)
    fig.suptitle(f"Loss-weight search: {len(results)} trials, {len(front)} on the front")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _arrow(direction):
    return "higher is better" if direction == "max" else "lower is better"
