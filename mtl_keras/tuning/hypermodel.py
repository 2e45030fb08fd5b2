"""`LossWeightHyperModel`: a KerasTuner HyperModel that searches task loss weights."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import keras
import keras_tuner
import numpy as np

from mtl_keras._validators import check_choice, check_int, check_number, is_number
from mtl_keras.model import MultiTaskModel
from mtl_keras.tasks import Task, validate_tasks
from mtl_keras.tuning import objectives as objectives_lib
from mtl_keras.weighting import StaticWeighting

__all__ = ["LossWeightHyperModel", "NORMALIZATIONS", "SAMPLINGS", "WEIGHT_PREFIX"]

SAMPLINGS = ("log", "uniform")
NORMALIZATIONS = ("mean", "simplex", None)
WEIGHT_PREFIX = "loss_weight/"


class LossWeightHyperModel(keras_tuner.HyperModel):
    """Declares one loss weight per task in `hp` and compiles the model with them.

    For each free task `t` the search space holds `hp.Float("loss_weight/t",
    min_weight, max_weight)`, sampled log-uniformly (`sampling="log"`, the
    default: a weight of 0.2 is as far from 1 as 5 is) or uniformly. So that
    the weights' overall scale does not act as a second learning rate, the
    free weights are then rescaled: `normalize="mean"` (default) to a mean of 1
    (they sum to the number of free tasks), `"simplex"` to a sum of 1, `None`
    to keep them raw. Weights of tasks in `fixed` are used as given and are not
    in the search space.

    `build_fn(hp, weights)` builds the model: `hp` is the same object, so it
    may declare the user's own hyperparameters (width, learning rate, ...);
    `weights` is the `{task: weight}` dict of this trial. If it returns an
    uncompiled `MultiTaskModel`, it is compiled here with
    `compile(optimizer, weighting=weights)`; if it compiles the model itself,
    it must pass `weighting=weights`.

    `fit` puts an `ObjectiveCallback` first in the callbacks, so each epoch's
    logs carry the objective (e.g. `val_delta_m`) for KerasTuner, early
    stopping and checkpointing.

    Args:
        build_fn: `build_fn(hp, weights) -> MultiTaskModel`.
        tasks: The model's `Task` list (names and metrics).
        objective: An objective identifier (see `mtl_keras.tuning.objectives.get`).
        baselines: Baselines for the `"delta_m"` objective.
        min_weight, max_weight: Range of the sampled (raw) weights.
        sampling: `"log"` or `"uniform"`.
        step: Optional grid step (a multiplier for `"log"`, an increment for
            `"uniform"`); required by GridSearch.
        fixed: `{task: weight}` of weights that are not searched.
        normalize: `"mean"`, `"simplex"` or None.
        optimizer: Optimizer identifier, or a callable `optimizer(hp)`, used
            when `build_fn` returns an uncompiled model. Default `"adam"`.
        seed: If set, every build is seeded (`keras.utils.set_random_seed`)
            with `execution_seed(execution)` = `seed + execution`: the first
            training of every trial starts from `seed`, the second (with
            KerasTuner's `executions_per_trial=2`) from `seed + 1`, ... So
            trials differ only by their hyperparameters execution by
            execution (paired), and a trial's objective is averaged over
            executions that differ in initialization, not only in data
            order.
        name: HyperModel name.

    Raises:
        ValueError: Bad ranges or sampling, fixed weights for unknown tasks,
            no free weight to search, or an objective that names a metric or
            task that does not exist or lacks a baseline.

    Example:

    >>> import keras, keras_tuner, mtl_keras as mtl
    >>> tasks = [mtl.Task("a", "binary"), mtl.Task("b", "regression")]
    >>> def build(hp, weights):
    ...     units = hp.Int("units", 8, 16, step=8)
    ...     return mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([units]), tasks)
    >>> hm = LossWeightHyperModel(build, tasks, objective="a_accuracy")
    >>> hp = keras_tuner.HyperParameters()
    >>> model = hm.build(hp)
    >>> sorted(hp.values)
    ['loss_weight/a', 'loss_weight/b', 'units']
    >>> sum(hm.weights_from_values(hp.values).values())
    2.0
    """

    def __init__(
        self,
        build_fn: Callable[[Any, dict], MultiTaskModel],
        tasks: Sequence[Task],
        objective: Any = "pareto",
        baselines: Mapping[str, float] | None = None,
        min_weight: float = 0.1,
        max_weight: float = 10.0,
        sampling: str = "log",
        step: float | None = None,
        fixed: Mapping[str, float] | None = None,
        normalize: str | None = "mean",
        optimizer: Any = "adam",
        seed: int | None = None,
        name: str | None = None,
    ):
        super().__init__(name=name)
        if not callable(build_fn):
            raise TypeError(
                f"Expected build_fn to be a callable build_fn(hp, weights). Received: {build_fn!r}"
            )
        self.build_fn = build_fn
        self.tasks = validate_tasks(list(tasks))
        self.task_names = [t.name for t in self.tasks]
        if sampling == "linear":
            sampling = "uniform"
        check_choice(sampling, "sampling", SAMPLINGS)
        check_choice(normalize, "normalize", NORMALIZATIONS)
        lo = check_number(min_weight, "min_weight", min_value=0)
        hi = check_number(max_weight, "max_weight", min_value=0)
        if not lo < hi or (sampling == "log" and lo <= 0):
            raise ValueError(
                "Expected 0 <= min_weight < max_weight (and min_weight > 0 for log "
                f"sampling). Received: min_weight={min_weight}, max_weight={max_weight}, "
                f"sampling={sampling!r}"
            )
        if step is not None and (not is_number(step) or step <= 0
                                 or (sampling == "log" and step <= 1)):
            raise ValueError(
                "Expected step > 0 (an increment) for uniform sampling, or > 1 (a "
                f"multiplier) for log sampling. Received: step={step!r}, sampling={sampling!r}"
            )
        self.min_weight, self.max_weight = lo, hi
        self.sampling, self.step, self.normalize = sampling, step, normalize
        fixed = dict(fixed or {})
        unknown = sorted(set(fixed) - set(self.task_names))
        if unknown:
            raise ValueError(
                f"Expected fixed weights for tasks among {self.task_names}. "
                f"Received unknown tasks: {unknown}"
            )
        self.fixed = {k: check_number(v, f"fixed[{k!r}]", min_value=0) for k, v in fixed.items()}
        self.free_tasks = [n for n in self.task_names if n not in self.fixed]
        if not self.free_tasks:
            raise ValueError(
                "Expected at least one task whose weight is searched. Received fixed "
                f"weights for every task: fixed={self.fixed}"
            )
        if len(self.free_tasks) == 1 and normalize is not None:
            raise ValueError(
                f"Expected at least two free weights with normalize={normalize!r}: a "
                "single normalized weight is a constant, so there is nothing to search. "
                f"Received free tasks {self.free_tasks} (fixed: {sorted(self.fixed)}). "
                "Fix fewer tasks or pass normalize=None."
            )
        self.objective = objectives_lib.get(objective, baselines).validate(self.tasks)
        self.optimizer = optimizer
        self.seed = check_int(seed, "seed", allow_none=True)
        #: Index of the trial's training the next `build` is for (0, 1, ...);
        #: `LossWeightTuner`'s tuner sets it before each execution of a trial.
        self.execution = 0

    def execution_seed(self, execution: int) -> int | None:
        """The seed of a trial's `execution`-th training (`seed + execution`; None without seed)."""
        execution = check_int(execution, "execution", min_value=0)
        return None if self.seed is None else self.seed + execution

    # ------------------------------------------------------------ the space
    def declare_weights(self, hp) -> dict[str, float]:
        """Declares the free weights in `hp` and returns this trial's weights."""
        raw = {}
        for name in self.free_tasks:
            raw[name] = hp.Float(
                WEIGHT_PREFIX + name, self.min_weight, self.max_weight,
                sampling="log" if self.sampling == "log" else "linear", step=self.step,
            )
        return self._normalized(raw)

    def weights_from_values(self, values: Mapping[str, Any]) -> dict[str, float]:
        """The weights a trial used, from its `hp.values`."""
        raw = {}
        for name in self.free_tasks:
            key = WEIGHT_PREFIX + name
            if key not in values:
                raise ValueError(
                    f"Expected the hyperparameter {key!r} in the trial's values. "
                    f"Received: {sorted(values)}"
                )
            raw[name] = float(values[key])
        return self._normalized(raw)

    def _normalized(self, raw):
        values = np.asarray([raw[n] for n in self.free_tasks], "float64")
        total = float(values.sum())
        if self.normalize is not None and total > 0:
            target = len(values) if self.normalize == "mean" else 1.0
            values = values * (target / total)
        free = dict(zip(self.free_tasks, values.tolist()))
        return {n: float(self.fixed[n]) if n in self.fixed else free[n] for n in self.task_names}

    # ------------------------------------------------------ build and fit
    def build(self, hp):
        weights = self.declare_weights(hp)
        seed = self.execution_seed(self.execution)
        if seed is not None:
            keras.utils.set_random_seed(seed)
        model = self.build_fn(hp, dict(weights))
        if not isinstance(model, MultiTaskModel):
            raise keras_tuner.errors.FatalTypeError(
                "Expected build_fn(hp, weights) to return a `mtl_keras.MultiTaskModel`. "
                f"Received: {model!r} of type {type(model).__name__}"
            )
        if sorted(model.task_names) != sorted(self.task_names):
            raise keras_tuner.errors.FatalValueError(
                f"Expected a model with the tasks {self.task_names}. "
                f"Received a model with tasks {model.task_names}"
            )
        if not model.compiled:
            model.compile(optimizer=self._optimizer(hp), weighting=weights)
        else:
            used = model.weighting
            expected = [weights[n] for n in model.task_names]
            if not (isinstance(used, StaticWeighting)
                    and np.allclose(used.task_weights, expected, rtol=1e-6)):
                raise keras_tuner.errors.FatalValueError(
                    "Expected build_fn to compile the model with `weighting=weights` "
                    f"(or to leave it uncompiled). Expected weights {weights}. Received: "
                    f"weighting={used!r}"
                )
        return model

    def _optimizer(self, hp):
        opt = self.optimizer
        if callable(opt) and not isinstance(opt, keras.optimizers.Optimizer):
            return opt(hp)
        if isinstance(opt, keras.optimizers.Optimizer):
            return keras.optimizers.deserialize(keras.optimizers.serialize(opt))
        return opt

    def fit(self, hp, model, *args, callbacks=None, **kwargs):
        """`model.fit`, with the objective written into each epoch's logs."""
        if kwargs.get("validation_data") is None and not kwargs.get("validation_split"):
            raise keras_tuner.errors.FatalValueError(
                "Expected validation_data: tuning objectives are validation metrics "
                f"({self.objective.metric_keys}). Received: validation_data=None"
            )
        callbacks = [objectives_lib.ObjectiveCallback(self.objective)] + list(callbacks or [])
        return model.fit(*args, callbacks=callbacks, **kwargs)
