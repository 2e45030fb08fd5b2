"""Comparing trained models: multi-task summaries over per-task metrics.

* `delta_m`: Δm, the mean relative change of per-task metrics over
  baselines (e.g. single-task models), each counted in its direction.
"""

from mtl_keras.evaluation.delta_m import delta_m

__all__ = ["delta_m"]
