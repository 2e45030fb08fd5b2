"""The training step of loss-level weighting methods (static, uncertainty, DWA, ...).

`MultiTaskModel.compile` gives the model a `LossStep` when its weighting
strategy weighs losses (a `GradientStep` when it combines gradients); the
model's `train_step` calls it with what the step must wait for (the batch's
value check, the step observers), then records the step's losses and weights
in its trackers. One step, as Keras' own `train_step`:

1. Forward pass and the masked per-task losses (`MultiTaskModel.step_losses`),
   weighted by the strategy (`MultiTaskModel.weighted_total`), plus the
   regularization losses; scaled by a `LossScaleOptimizer`'s loss scale.
2. The gradients of that total w.r.t. every trainable variable.
3. The optimizer's update.

Nothing may change before the check passed and the observers ran (a bad
batch changes nothing), and the step must not wait for them longer than it
has to. Every loss, and so every gradient, tracker and metric, reads the
labels, which are made to wait for the check (a loss may raise on a label
the check rejects, and the check's error must win); the gradients wait for
the observers too; the optimizer's update runs in a branch taken once the
check passed, since some of its updates (its iteration count, weight decay)
read no gradient. The forward pass through the layers runs beside the check,
unless it may assign a variable (`forward_may_assign`: BatchNorm statistics,
a dropout layer's seed state, a weighting strategy's state; the statistics of
preprocessing layers such as `Normalization` are only read): then the whole
step waits. Measured on a 2-core CPU at 16 tasks, a step that waits for the
check before it starts, or that puts a control input on each of the
optimizer's ops, costs 0.15-0.2x more than one without the check; this one
costs about as much as none (BENCHMARKS.md, "MultiTaskModel overhead").
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import keras
import tensorflow as tf

from mtl_keras import _keras_internals as internals


class LossStepOutput(NamedTuple):
    """What one `LossStep` call returns, each available only after the check and waits.

    Attributes:
        y, sample_weight: The batch's labels and sample weights, as the step
            read them (what the model's metrics should read too).
        y_pred: The predictions.
        losses: The step's `StepLosses`.
        weights: The strategy's task weights.
        total: The optimized loss (this replica's share, as Keras' `loss`).
    """

    y: Any
    sample_weight: Any
    y_pred: Any
    losses: Any
    weights: Any
    total: Any


class LossStep:
    """The gradient computation and update of one step of a loss-level method.

    Owned by a compiled `MultiTaskModel` whose weighting strategy weighs
    losses; it reads only the model's public interface (`step_losses`,
    `weighted_total`, `optimizer`, `trainable_variables`,
    `non_trainable_variables`).

    Args:
        model: The compiled `MultiTaskModel`.
    """

    def __init__(self, model):
        self.model = model

    def __call__(self, x, y, sample_weight=None, check=None, waits=()):
        """Computes and applies one step's update, once `check` passed and `waits` ran.

        Args:
            x, y, sample_weight: The replica's batch.
            check: The batch's value check (a scalar bool tensor that raises
                when the batch is bad, `validation.assert_batch_values`), or
                None.
            waits: Other tensors the update must wait for (step observers).

        Returns:
            A `LossStepOutput`.
        """
        model = self.model
        after, gate_forward, y, sample_weight = gate_batch(model, check, waits, y, sample_weight)
        with tf.control_dependencies(after if gate_forward else []):
            with tf.GradientTape() as tape:
                y_pred = model(x, training=True)
                losses = model.step_losses(y, y_pred, sample_weight)
                total, weights = model.weighted_total(losses, training=True)
                scaled = model.optimizer.scale_loss(total)
            variables = model.trainable_variables
            grads = tape.gradient(scaled, variables) if variables else []
        # What reads the labels (losses, total, gradients, the metrics) comes
        # after the check.
        weights = available_after(after, weights)  # a strategy's weights may be constants
        output = LossStepOutput(y, sample_weight, y_pred, losses, weights, total)
        if not variables:
            warnings.warn("The model does not have any trainable weights.")
            return output
        if waits:  # the observers are not upstream of the gradients
            grads = available_after(waits, grads)

        apply_once_checked(model.optimizer, list(zip(grads, variables)), check, after)
        return output


def gate_batch(model, check, waits, y, sample_weight, labels_wait: bool = True):
    """How a step waits for its batch's value check and its observers.

    Returns:
        `(after, gate_forward, y, sample_weight)`: `after`, the tensors the
        update waits for (the check, then `waits`); `gate_forward`, whether the
        forward pass must wait for them too, because it may assign a variable
        (`forward_may_assign`). Otherwise, with `labels_wait`, the labels wait:
        a loss may raise on a label the check rejects (e.g. a class id out of
        range), and the check's error must win. `LossStep` and `GradientStep`
        both wait this way.
    """
    after = ([] if check is None else [check]) + list(waits)
    gate_forward = bool(after) and forward_may_assign(model)
    if after and not gate_forward and labels_wait:
        y, sample_weight = available_after(after, (y, sample_weight))
    return after, gate_forward, y, sample_weight


def apply_once_checked(optimizer, pairs, check=None, after=()) -> None:
    """`optimizer.apply_gradients(pairs)`, run only once `check` passed and `after` ran.

    Some of the optimizer's updates do not read the gradients (its iteration
    count, weight decay): they run in a branch taken once the check passed.
    Measured, a control input on each of the optimizer's ops instead costs
    0.15-0.2x of a 16-task step; the branch costs nothing measurable. (Under
    a strategy, whose update is a cross-replica call a branch cannot hold,
    they get the control inputs.) `GradientStep` applies its update this way too.
    """
    def apply():
        optimizer.apply_gradients(pairs)
        return tf.constant(True)

    if check is not None and not tf.distribute.has_strategy():
        tf.cond(tf.cast(check, tf.bool), apply, lambda: tf.constant(False))
    else:
        with tf.control_dependencies(list(after)):
            apply()


# Preprocessing layers whose variables `adapt` sets and `call` only reads.
_ADAPTED_LAYERS = (
    keras.layers.Normalization, keras.layers.Discretization, keras.layers.StringLookup,
    keras.layers.IntegerLookup, keras.layers.TextVectorization, keras.layers.Hashing,
    keras.layers.HashedCrossing, keras.layers.CategoryEncoding,
)


def forward_may_assign(model) -> bool:
    """Whether a training forward pass of `model` may assign one of its variables.

    True when the model (its layers, its weighting strategy) has a
    non-trainable variable other than those of preprocessing layers that
    only read theirs in `call` (`Normalization`'s statistics, ...): e.g.
    BatchNorm's moving statistics, a dropout layer's seed state, DWA's loss
    history. Trainable variables change only in the optimizer's update.
    """
    constant = {id(v) for layer in internals.sublayers(model)
                if isinstance(layer, _ADAPTED_LAYERS) for v in layer.non_trainable_variables}
    return any(id(v) not in constant for v in model.non_trainable_variables)


def available_after(waits, structure):
    """`structure`'s tensors (composite ones' components too), available only after `waits`.

    One `IdentityN` op for all of them (an op per tensor would cost the step
    an op each).
    """
    if not waits:
        return structure
    flat = tf.nest.flatten(structure, expand_composites=True)
    where = [i for i, t in enumerate(flat) if isinstance(t, tf.Tensor)]
    if not where:
        return structure
    with tf.control_dependencies(waits):
        waited = tf.identity_n([flat[i] for i in where])
    for i, t in zip(where, waited):
        flat[i] = t
    return tf.nest.pack_sequence_as(structure, flat, expand_composites=True)


__all__ = [
    "LossStep",
    "LossStepOutput",
    "available_after",
    "apply_once_checked",
    "forward_may_assign",
    "gate_batch",
]
