"""`TrialProgress`: a line as each trial of a loss-weight search starts and ends."""

from __future__ import annotations

import math
import time
from typing import Any, Callable

__all__ = ["TrialProgress", "format_duration"]


def format_duration(seconds: float) -> str:
    """`42s`, `3m05s`, `1h02m`."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class TrialProgress:
    """Reports a `LossWeightTuner` search trial by trial.

    `LossWeightTuner.search(..., progress=print)` uses one. As a trial starts:

        trial 3/8: weights species=0.521, sex=1.910, body_mass=0.569

    and as it ends (the objective at the trial's best epoch, the best
    completed trial so far, and the time left at the mean duration of the
    trials this search has run):

        trial 3/8 done in 4s: val_delta_m=1.2345; best so far 2.1000 (trial 01); about 20s left

    The trial number counts every trial of the project, so a resumed search
    goes on from where it stopped; a Hyperband search has no fixed number of
    trials, so it shows neither `/N` nor the time left.

    Args:
        tuner: The `LossWeightTuner` (its weights and objective).
        print_fn: Called with each line.
    """

    def __init__(self, tuner, print_fn: Callable[[str], Any] = print):
        self.tuner = tuner
        self.print_fn = print_fn
        self._started: dict[str, float] = {}
        self._numbers: dict[str, int] = {}
        self._durations: list[float] = []

    @property
    def _oracle(self):
        return self.tuner.tuner.oracle

    def _label(self, trial) -> str:
        number = self._numbers.get(trial.trial_id, len(self._oracle.trials))
        total = self._oracle.max_trials
        return f"trial {number}/{total}" if total else f"trial {number}"

    def _weights(self, trial) -> str:
        try:
            weights = self.tuner.hypermodel.weights_from_values(trial.hyperparameters.values)
        except ValueError:
            return "weights unknown"
        return "weights " + ", ".join(f"{k}={v:.3f}" for k, v in weights.items())

    def on_trial_begin(self, trial) -> None:
        """Called by the tuner as `trial` starts."""
        self._started[trial.trial_id] = time.perf_counter()
        self._numbers[trial.trial_id] = len(self._oracle.trials)
        self.print_fn(f"{self._label(trial)}: {self._weights(trial)}")

    def on_trial_end(self, trial) -> None:
        """Called by the tuner once the oracle has scored `trial`."""
        now = time.perf_counter()
        seconds = now - self._started.get(trial.trial_id, now)
        self._durations.append(seconds)
        name = self.tuner.objective.name
        status = str(trial.status)
        score = trial.score
        if status == "COMPLETED" and score is not None and math.isfinite(score):
            result = f"{name}={score:.4f}"
        else:
            message = getattr(trial, "message", None)
            # KerasTuner stores a failed trial's traceback: keep its last line, the error.
            last = [l.strip() for l in str(message or "").splitlines() if l.strip()][-1:]
            result = status.lower() + (f" ({last[0]})" if last else "")
        best = self._oracle.get_best_trials(1)
        if best and best[0].score is not None:
            result += f"; best so far {best[0].score:.4f} (trial {best[0].trial_id})"
        total = self._oracle.max_trials
        if total:
            ended = sum(str(t.status) not in ("RUNNING", "IDLE")
                        for t in self._oracle.trials.values())
            left = max(0, total - ended)
            mean = sum(self._durations) / len(self._durations)
            result += f"; about {format_duration(left * mean)} left" if left else ""
        self.print_fn(f"{self._label(trial)} done in {format_duration(seconds)}: {result}")
