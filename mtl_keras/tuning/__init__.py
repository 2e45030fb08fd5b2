"""Tuning task loss weights with KerasTuner.

A `LossWeightHyperModel` declares one loss weight per task (and the user's
own hyperparameters) and scores each trial with an objective that does not
depend on the weights (`objectives`): a task's validation metric, a signed
weighted sum of per-task metrics, Δm over per-task baselines, or the Pareto
front over per-task metrics. `LossWeightTuner(hypermodel, tuner=...)` runs
the search with any KerasTuner tuner and reads the trials back.
"""

from mtl_keras.tuning.hypermodel import LossWeightHyperModel
from mtl_keras.tuning.objectives import (
    DeltaM,
    MetricObjective,
    Objective,
    ObjectiveCallback,
    ParetoObjective,
    WeightedObjective,
)
from mtl_keras.tuning.pareto import pareto_front
from mtl_keras.tuning.progress import TrialProgress
from mtl_keras.tuning.tuner import LossWeightTuner, TrialResult, get_tuner_class

__all__ = [
    "DeltaM",
    "LossWeightHyperModel",
    "LossWeightTuner",
    "MetricObjective",
    "Objective",
    "ObjectiveCallback",
    "ParetoObjective",
    "TrialProgress",
    "TrialResult",
    "WeightedObjective",
    "get_tuner_class",
    "pareto_front",
]
