"""Comparing trained models: multi-task summaries over per-task metrics.

* `delta_m`: Δm, the mean relative change of per-task metrics over
  baselines (e.g. single-task models), each counted in its direction.
* `compare`: trains single-task models and multi-task `Configuration`s over
  seeds (or folds) on the same splits; a `ComparisonResult` with intervals,
  Δm, paired tests and costs (`compare_stats` holds the statistics);
  `kfold_indices` cuts rows into the folds of a k-fold comparison.
"""

from mtl_keras.evaluation.compare_models import Configuration, compare, kfold_indices
from mtl_keras.evaluation.compare_result import ComparisonResult
from mtl_keras.evaluation.delta_m import delta_m

__all__ = ["ComparisonResult", "Configuration", "compare", "delta_m", "kfold_indices"]
