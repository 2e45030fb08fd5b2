"""Which tasks should share? Task affinity, gradient conflict and task grouping.

* `TaskAffinity`: a callback measuring the inter-task affinity of Fifty et
  al. (NeurIPS 2021) while a `MultiTaskModel` trains; `measure_affinity`
  runs a short training with it and returns an `AffinityResult`.
* `GradientConflict`: a callback logging per-epoch statistics of the
  pairwise cosine similarity of the task gradients.
* `best_grouping` / `best_groupings`: the best partition of the tasks into
  groups from an affinity matrix; `mtl_keras.build_grouped` trains one
  shared backbone per group.
* `lookahead_affinity`, `gradient_cosines`: the per-batch measures.

See docs/affinity.md.
"""

from mtl_keras.affinity.gradient_conflict import GradientConflict, conflict_keys
from mtl_keras.affinity.grouping import (
    MAX_EXACT_TASKS,
    Grouping,
    best_grouping,
    best_groupings,
    grouping_score,
    recommend,
)
from mtl_keras.affinity.measures import (
    MODES,
    PairMeasure,
    check_shared_trunk,
    gradient_cosines,
    lookahead_affinity,
    trunk_variable_tasks,
)
from mtl_keras.affinity.probe import StepProbe
from mtl_keras.affinity.result import AffinityResult
from mtl_keras.affinity.task_affinity import TaskAffinity, measure_affinity

__all__ = [
    "MAX_EXACT_TASKS",
    "MODES",
    "AffinityResult",
    "GradientConflict",
    "Grouping",
    "PairMeasure",
    "StepProbe",
    "TaskAffinity",
    "best_grouping",
    "best_groupings",
    "check_shared_trunk",
    "conflict_keys",
    "gradient_cosines",
    "grouping_score",
    "lookahead_affinity",
    "measure_affinity",
    "recommend",
    "trunk_variable_tasks",
]
