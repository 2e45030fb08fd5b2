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
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import ops

from mtl_keras import _keras_internals as internals
from mtl_keras.tasks import Task


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
        return super().get_config()


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
            losses (passed as `losses=`; None otherwise).
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

    def combine_gradients(self, grads, present):
        """Returns `(direction (dim,), weights (num_tasks,))`. Must be overridden."""
        raise NotImplementedError
