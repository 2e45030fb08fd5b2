"""Base classes of loss-weighting strategies.

A weighting strategy turns the per-task losses of a batch into the single loss
(or, for gradient methods, the single gradient) the optimizer sees. It is a
Keras layer owned by the `MultiTaskModel`, so any state it keeps (learned
log-variances, a loss history, ...) lives in Keras variables that are saved in
`.keras` files and checkpoints with the model.

Contract of `LossWeighting.combine` (what `MultiTaskModel.compute_loss` calls):

* `losses`: float32 `(num_tasks,)`, this replica's share of each task's
  masked mean loss: summed over replicas it gives the global mean loss of the
  batch (on one device it *is* the mean loss). Differentiable.
* `global_losses`: the same values summed over replicas, without gradient.
  Use these to compute weights, so every replica computes the same weights.
* `present`: float32 `(num_tasks,)`, 1 where the task has at least one labelled
  sample in the (global) batch, 0 where it has none. An absent task's loss is
  0; it must get weight 0 and must not change the strategy's state.
* `training`: False in `evaluate`: no state may change then.

It returns `(total_loss, weights)`: the scalar this replica contributes to the
optimized loss and the `(num_tasks,)` weights that were used, for logging.

Contract of `GradientWeighting.combine_gradients(grads, present, losses=None)`
(what the model's `GradientStep` calls, the same way for every rule):

* `grads`: float32 `(num_tasks, dim)`, the per-task gradients of the global
  batch (summed over replicas in `"parameters"` mode).
* `present`: as above; the rows of absent tasks are zero.
* `losses`: float32 `(num_tasks,)` global task losses, without gradient, when
  the rule declares `needs_losses = True`; None otherwise.

It returns `(direction, weights)`: the `(dim,)` update direction and the
`(num_tasks,)` weights to log.

Random rules call `self.set_seed(seed)` in their constructor: the base class
then validates the seed, keeps it in `get_config()`, creates the step counter
and gives each step its own `(seed, step)` pair through `next_seed()`.
"""

from __future__ import annotations

import functools
import inspect
import random
import warnings
from typing import Sequence

import keras
import tensorflow as tf
from keras import ops

from mtl_keras import _keras_internals as internals
from mtl_keras._validators import check_choice, check_int
from mtl_keras.tasks import Task

#: What a gradient method's per-task gradients are taken with respect to.
MODES = ("parameters", "representation")


def resolve_seed(seed: int | None) -> tuple[int | None, int]:
    """Validates an optional int seed; returns `(seed, effective_seed)`.

    `effective_seed` is `seed`, or a random int when `seed` is None (the
    config keeps None, so a reloaded strategy draws a new one).

    Raises:
        ValueError: If `seed` is neither None nor an int (a bool is not).
    """
    seed = check_int(seed, "seed", allow_none=True)
    return seed, (random.randint(0, 2**31 - 1) if seed is None else seed)


class Weighting(keras.layers.Layer):
    """Common base of all weighting strategies.

    `MultiTaskModel.compile` calls `build_for_tasks(tasks)` with the model's
    `Task`s: the strategy records them (`self.tasks`, `self.task_names`) and
    creates its variables in `build()`, where it may read what it needs of
    each task (e.g. `Task.weight`, `Task.kind`).
    """

    #: True for methods that combine per-task gradients (see `GradientWeighting`).
    combines_gradients = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.tasks: tuple[Task, ...] = ()
        self.task_names: tuple[str, ...] = ()
        self._seeded = False

    @property
    def num_tasks(self) -> int:
        return len(self.task_names)

    def build_for_tasks(self, tasks: Sequence[Task | str]) -> None:
        """Records the tasks (in output order) and creates the strategy's variables.

        Args:
            tasks: The model's `Task`s, or just task names for a strategy used
                on its own (each then counts as a regression task of weight 1).
        """
        tasks = tuple(t if isinstance(t, Task) else Task(str(t), "regression")
                      for t in tasks)
        self.tasks = tasks
        self.task_names = tuple(t.name for t in tasks)
        if self._seeded:
            # Created before `build()`'s variables, as every random rule did.
            self.step = self.add_step_counter()
        self.build(None)

    def build(self, input_shape=None):
        """Creates variables; `self.task_names` is set. Override to add state."""

    def get_build_config(self):
        # Built by `build_for_tasks` at compile time, not from an input shape:
        # a saved strategy must not be rebuilt (with no tasks) when loaded.
        return None

    def add_step_counter(self):
        """A non-trainable int64 step counter (the same value on every replica).

        Create it in `build()`; rules that draw random numbers use it with
        their seed, so a resumed run draws the same sequence.
        """
        return self.add_weight(
            shape=(), initializer="zeros", dtype="int64", trainable=False,
            name="step", aggregation="only_first_replica",
        )

    def set_seed(self, seed: int | None) -> None:
        """Makes this a random rule: call it in the constructor with its `seed` argument.

        The base class then validates `seed` (an int, or None for a random
        one), returns it from `get_config()` (None stays None, so a reloaded
        strategy draws a new one), creates the step counter `self.step` in
        `build_for_tasks` and hands out one `(seed, step)` pair per step
        through `next_seed()` (or `current_seed()`).

        Raises:
            ValueError: If `seed` is neither None nor an int.
        """
        self.seed, self._effective_seed = resolve_seed(seed)
        self._seeded = True

    def current_seed(self):
        """The int64 `(2,)` stateless seed `(seed, step)`, with the counter's current value.

        For rules that called `set_seed`. The pair depends only on the seed
        and the saved counter, so every replica draws the same numbers and a
        run resumed from a checkpoint draws the same sequence as an
        uninterrupted one.
        """
        step = tf.convert_to_tensor(self.step.value)  # a read, not the variable
        return tf.stack([tf.constant(self._effective_seed, tf.int64), step])

    def next_seed(self):
        """Advances the step counter, then returns `current_seed()`.

        The seed of one step's draws: the first step draws with `step = 1`.
        """
        self.step.assign_add(1)
        return self.current_seed()

    def on_epoch_end(self, epoch: int) -> None:
        """Called by the model after each training epoch (eagerly). No-op by default."""

    def scale_for_distribution(self, value):
        """Scales a loss term that every replica adds once by 1 / num_replicas.

        Use it for terms that do not come from the per-task losses (e.g. the
        log-variance regularizer of uncertainty weighting), so that summing
        over replicas counts them once.
        """
        return internals.scale_loss_for_distribution(value)

    def get_config(self):
        config = super().get_config()
        if self._seeded:
            config["seed"] = self.seed
        return config


class LossWeighting(Weighting):
    """A strategy that turns per-task losses into weights (or into a total loss).

    Subclasses implement `compute_weights`, or override `combine` when the total
    loss is not a weighted sum of the task losses (e.g. uncertainty weighting).
    """

    def compute_weights(self, global_losses, present, training):
        """Returns the `(num_tasks,)` weights for this step. Must be overridden."""
        raise NotImplementedError

    def combine(self, losses, global_losses, present, training):
        weights = ops.convert_to_tensor(
            self.compute_weights(global_losses, present, training), "float32"
        ) * present
        weights = ops.stop_gradient(weights)
        return ops.sum(weights * losses), weights


class GradientWeighting(Weighting):
    """A strategy that combines the per-task gradients into one update.

    The model's `GradientStep` computes the `(num_tasks, dim)` matrix of
    per-task gradients (w.r.t. the shared parameters or the shared
    representation, following `mode`) and hands it to `combine_gradients`.
    In evaluation, the total loss is the sum of the task losses.

    Attributes:
        mode: `"parameters"`: the rows are gradients w.r.t. the shared
            trainable variables; `"representation"`: w.r.t. the shared
            representation (hard sharing only). `SharedGradientWeighting`
            makes it a constructor argument.
        needs_losses: True when `combine_gradients` needs the global task
            losses (passed as `losses=`; None otherwise, which spares a
            cross-replica reduction).
    """

    combines_gradients = True
    mode = "parameters"
    needs_losses = False

    def check_model(self, model) -> None:
        """Raises `ValueError` when `mode` does not fit `model`'s architecture.

        Called by `MultiTaskModel.compile`, before any step.
        """
        if self.mode == "representation" and not model.has_shared_representation:
            raise ValueError(
                f"{type(self).__name__}(mode='representation') needs one shared "
                "representation that every head reads (hard sharing). Expected a "
                "model whose trunk outputs one tensor. Received: a trunk that "
                "outputs one representation per task (soft sharing, cross-stitch, "
                "MMoE/PLE). Use mode='parameters' for this architecture."
            )

    def combine(self, losses, global_losses, present, training):
        weights = ops.stop_gradient(present)
        return ops.sum(weights * losses), weights

    def combine_gradients(self, grads, present, losses=None):
        """Combines the per-task gradients into one direction. Must be overridden.

        Args:
            grads: float32 `(num_tasks, dim)` per-task gradients.
            present: float32 `(num_tasks,)` 0/1 mask of the tasks with labels.
            losses: float32 `(num_tasks,)` global task losses when
                `needs_losses` is True, else None.

        Returns:
            `(direction (dim,), weights (num_tasks,))`.
        """
        raise NotImplementedError

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        rule = cls.__dict__.get("combine_gradients")
        if rule is None or _accepts_losses(rule):
            return
        # Transition: rules written for the old `combine_gradients(grads,
        # present)` keep working (the step always passes `losses=`).
        warnings.warn(
            f"{cls.__name__}.combine_gradients should take `losses=None`: expected "
            "combine_gradients(self, grads, present, losses=None). Received: "
            f"combine_gradients{inspect.signature(rule)}. It is wrapped for now.",
            DeprecationWarning, stacklevel=2)

        @functools.wraps(rule)
        def combine_gradients(self, grads, present, losses=None):
            return rule(self, grads, present)

        cls.combine_gradients = combine_gradients


def _accepts_losses(fn) -> bool:
    parameters = inspect.signature(fn).parameters.values()
    return any(p.name == "losses" or p.kind is p.VAR_KEYWORD for p in parameters)


class SharedGradientWeighting(GradientWeighting):
    """A `GradientWeighting` whose `mode` is a constructor argument.

    The base of the built-in gradient methods, and the one to subclass for a
    new one (see docs/extending.md).

    * `"parameters"`: the rows of the `(num_tasks, dim)` matrix are each task's
      gradient w.r.t. the shared (trunk) trainable variables, flattened and
      concatenated. Exact, works for every architecture.
    * `"representation"`: the rows are each task's gradient w.r.t. the shared
      representation (the trunk's output, flattened over the batch), as in
      MGDA-UB (Sener & Koltun, NeurIPS 2018). Cheaper: the per-task backward
      passes stop at the trunk's output and one backward pass carries the
      combined direction through the trunk. Needs a single shared
      representation (hard sharing); `check_model` refuses other models.

    Args:
        mode: `"parameters"` (default) or `"representation"`.

    Raises:
        ValueError: For another `mode`.
    """

    def __init__(self, mode: str = "parameters", **kwargs):
        super().__init__(**kwargs)
        self.mode = check_choice(mode, "mode", MODES)

    def get_config(self):
        config = super().get_config()
        config["mode"] = self.mode
        return config


__all__ = [
    "GradientWeighting",
    "LossWeighting",
    "MODES",
    "SharedGradientWeighting",
    "Weighting",
    "resolve_seed",
]
