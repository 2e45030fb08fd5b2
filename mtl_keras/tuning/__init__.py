"""Tuning task loss weights with KerasTuner.

`LossWeightTuner` (and the `LossWeightHyperModel` under it) searches one loss
weight per task, with any KerasTuner tuner, against an objective that does not
depend on the weights (`objectives`): a task's validation metric, a signed
weighted sum of per-task metrics, Δm over per-task baselines, or the Pareto
front over per-task metrics.
"""

from mtl_keras.tuning.demo import demo_search, penguins_build_fn
from mtl_keras.tuning.hypermodel import LossWeightHyperModel
from mtl_keras.tuning.objectives import (
    DeltaM,
    MetricObjective,
    Objective,
    ObjectiveCallback,
    ParetoObjective,
    WeightedObjective,
    pareto_front,
)
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
    "demo_search",
    "get_tuner_class",
    "pareto_front",
    "penguins_build_fn",
]
