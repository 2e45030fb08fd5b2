"""Per-batch measures of how tasks interact through a model's shared trunk.

* `lookahead_affinity`: the inter-task affinity of Fifty, Amid, Zhao, Yu,
  Anil & Finn, "Efficiently Identifying Task Groupings for Multi-Task
  Learning", NeurIPS 2021: for each pair `(i, j)`, how one SGD step of the
  trunk on task `i`'s loss changes task `j`'s loss on the same batch,
  `Z[i, j] = 1 - L_j(after) / L_j(before)`. Positive: the step on `i` helps
  `j`; negative: it hurts.
* `gradient_cosines`: the pairwise cosine similarity of the task gradients,
  w.r.t. the shared representation (hard sharing, cheap) or the trunk's
  trainable variables (every architecture).
* `trunk_variable_tasks` / `check_shared_trunk`: which tasks each trunk
  variable reaches; a model in which no variable reaches two tasks (soft
  sharing: coupled towers, nothing shared) has no affinity to measure.

Every measure is side-effect free: the forward passes run with
`stateless_call` on the variables' current values (training mode, so
dropout and batch normalization behave as in training), and the updated
non-trainable state (batch-norm statistics, dropout seeds) is discarded, so
measuring never changes what training does next.

The task losses are the masked means of `MultiTaskModel.step_losses`
(labelled samples only; 0 for a task without labels in the batch), without
regularization or soft-sharing penalties: the measures are about the tasks'
own losses.

Distribution (`tf.distribute.MirroredStrategy`): called in a replica
context, each replica contributes its share of the global mean losses, the
per-task gradients and the losses after the look-ahead are summed over
replicas (in representation mode, the Gram matrices of the replicas' rows),
and every replica returns the same global result.
"""

from __future__ import annotations

from typing import NamedTuple

import keras
import tensorflow as tf

from mtl_keras import validation
from mtl_keras._validators import check_choice, check_number
from mtl_keras.gradient_step import xla_helps
from mtl_keras.step_record import task_sample_weight
from mtl_keras.weighting.gradient_common import cosine_matrix, gram
from mtl_keras.weighting.numerics import cosines

__all__ = [
    "MODES",
    "PairMeasure",
    "check_shared_trunk",
    "gradient_cosines",
    "lookahead_affinity",
    "trunk_variable_tasks",
]

#: What `gradient_cosines` differentiates with respect to.
MODES = ("representation", "parameters")


class PairMeasure(NamedTuple):
    """A `(num_tasks, num_tasks)` measure of one batch and where it is defined.

    Attributes:
        values: float32 `(num_tasks, num_tasks)`; 0 where not measured.
        measured: float32 `(num_tasks, num_tasks)` 0/1 mask: 1 where both
            tasks have labels in the batch (and the value is defined).
    """

    values: tf.Tensor
    measured: tf.Tensor


# ----------------------------------------------------------------- helpers
def _replica_context():
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return None
    return ctx


def _sum_over_replicas(*tensors):
    """Sums float32 tensors of static shapes over the replicas, with one collective.

    One packed all-reduce per phase: independent collectives may start in a
    different order on each replica.
    """
    ctx = _replica_context()
    if ctx is None:
        return tensors
    shapes = [t.shape for t in tensors]
    flat = tf.concat([tf.reshape(t, [-1]) for t in tensors], axis=0)
    parts = tf.split(ctx.all_reduce(tf.distribute.ReduceOp.SUM, flat),
                     [s.num_elements() for s in shapes])
    return tuple(tf.reshape(p, s) for p, s in zip(parts, shapes))


def _values(variables):
    return [tf.convert_to_tensor(v.value) for v in variables]


def _stateless(layer, x):
    """`layer(x, training=True)` on its current values, leaving its state alone."""
    outputs, _ = layer.stateless_call(_values(layer.trainable_variables),
                                      _values(layer.non_trainable_variables), x, training=True)
    return outputs


class _Labels:
    """A batch's labels prepared once per task: `(clean labels, mask)` pairs."""

    def __init__(self, model, y, sample_weight):
        self.tasks = model.tasks
        self.prepared = [t.prepare_labels(y[t.label_key], task_sample_weight(sample_weight, t))
                         for t in model.tasks]
        #: `(num_tasks,)` this replica's (weighted) number of labelled samples per task.
        self.counts = tf.stack([tf.reduce_sum(mask) for _, mask in self.prepared])

    def sums(self, y_pred):
        """`(num_tasks,)` this replica's sum of each task's masked loss (`StepLosses.sums`)."""
        return tf.stack([tf.reduce_sum(task.loss_values(clean, y_pred[task.name]) * mask)
                         for task, (clean, mask) in zip(self.tasks, self.prepared)])


def check_labels(model, y, sample_weight) -> None:
    """Raises a `ValueError` unless `y` is a dict of the tasks' label keys (and the
    sample weights fit the tasks)."""
    if not isinstance(y, dict):
        raise ValueError(
            "Expected labels as a dict keyed by task label keys "
            f"{[t.label_key for t in model.tasks]}. Received: {type(y).__name__}")
    validation.check_label_keys(y, model.tasks)
    validation.check_sample_weight_keys(sample_weight, model.tasks)


def check_jit_compile(jit_compile):
    """Validates a measure's `jit_compile` (True, False or "auto"); returns it."""
    return check_choice(jit_compile, "jit_compile", (True, False, "auto"))


def _run(compute, model, jit_compile, *args):
    """Runs a measure's computation, as one XLA cluster when asked and possible.

    Inside a training step on one replica the whole measure can be compiled
    with XLA (`jit_compile=True`, or `"auto"` when `xla_helps(model)`): on CPU
    it is made of many small ops, which XLA fuses (measured: one measurement
    of `lookahead_affinity` costs about half as much). Collectives (several
    replicas) keep it un-compiled; eager calls run op by op.
    """
    compile_it = jit_compile is True or (jit_compile == "auto" and xla_helps(model))
    if compile_it and tf.inside_function() and _replica_context() is None:
        return tf.function(compute, jit_compile=True, autograph=False)(*args)
    return compute(*args)


def _trunk_index(model):
    trunk_ids = {id(v) for v in model.trunk.trainable_variables}
    return [k for k, v in enumerate(model.trainable_variables) if id(v) in trunk_ids]


def _trunk_jacobian(model, x, labels):
    """Per-task gradients of the global mean losses w.r.t. the trunk variables.

    Returns:
        `(values, index, non_trainable, grads, losses, counts)`: the model's
        trainable values, the positions of the trunk's among them, its
        non-trainable values, per trunk variable the `(num_tasks,) +
        variable.shape` gradients of each task's global mean loss, and the
        `(num_tasks,)` global mean losses and labelled-sample counts.
    """
    values = _values(model.trainable_variables)
    non_trainable = _values(model.non_trainable_variables)
    index = _trunk_index(model)
    sources = [values[k] for k in index]
    with tf.GradientTape() as tape:
        tape.watch(sources)
        y_pred, _ = model.stateless_call(values, non_trainable, x, training=True)
        sums = labels.sums(y_pred)
    # One vectorised backward pass for all tasks (TensorFlow's parallel-for).
    jac = tape.jacobian(sums, sources, experimental_use_pfor=True)
    num_tasks = len(model.tasks)
    rows = [tf.zeros((num_tasks,) + tuple(s.shape)) if j is None else tf.cast(j, tf.float32)
            for j, s in zip(jac, sources)]
    counts, sums, *rows = _sum_over_replicas(labels.counts, sums, *rows)
    grads = [tf.math.divide_no_nan(r, tf.reshape(counts, [-1] + [1] * (len(r.shape) - 1)))
             for r in rows]
    return values, index, non_trainable, grads, tf.math.divide_no_nan(sums, counts), counts


# ---------------------------------------------------------------- measures
def lookahead_affinity(model, x, y, sample_weight=None, learning_rate=None,
                       jit_compile="auto") -> PairMeasure:
    """Inter-task affinity of one batch (Fifty et al., NeurIPS 2021).

    For every task `i`, the trunk's trainable variables `theta` take one
    look-ahead SGD step on task `i`'s loss, `theta_i = theta - lr * grad L_i`
    (heads and every other variable unchanged); then for every task `j`

        Z[i, j] = 1 - L_j(theta_i) / L_j(theta)

    on the same batch. The `T` per-task gradients come from one vectorised
    jacobian; the losses before and after the `T` look-ahead steps from one
    vectorised forward pass of the `T + 1` trunks.
    Nothing is assigned: the model's variables and state are untouched.

    Args:
        model: A built `mtl_keras.MultiTaskModel`.
        x: A batch of features (the model's input structure).
        y: The batch's labels, a dict keyed by label key (missing labels as
            `MultiTaskModel` defines them).
        sample_weight: Optional sample weights (shared, or a per-task dict).
        learning_rate: The look-ahead step size. Default: the learning rate
            the model's optimizer would use now.
        jit_compile: Inside a `tf.function` on one replica (a training step),
            compile the measure with XLA: True, False, or `"auto"` (default:
            when `mtl_keras.gradient_step.xla_helps(model)`, the rule of the
            gradient-method step). Eager calls and several replicas (whose
            collectives XLA cannot hold) run un-compiled.

    Returns:
        A `PairMeasure`: `values[i, j] = Z[i, j]`, measured where tasks `i`
        and `j` both have labels in the batch and `L_j(theta) > 0`.

    Raises:
        ValueError: Labels that are not a dict of the tasks' label keys, a
            learning rate that is not > 0, or none (not given and the model is
            not compiled).

    Example:

    >>> import keras, numpy as np, mtl_keras as mtl
    >>> tasks = [mtl.Task("a", "regression"), mtl.Task("b", "regression")]
    >>> model = mtl.build_hard_sharing(keras.Input((3,)), mtl.backbones.mlp([4]), tasks)
    >>> x = np.ones((8, 3), "float32")
    >>> y = {"a": np.ones(8, "float32"), "b": np.full(8, np.nan, "float32")}
    >>> z = mtl.affinity.lookahead_affinity(model, x, y, learning_rate=0.1)
    >>> z.measured.numpy().tolist()   # task b has no labels in this batch
    [[1.0, 0.0], [0.0, 0.0]]
    """
    if learning_rate is None:
        if getattr(model, "optimizer", None) is None:
            raise ValueError(
                "Expected a learning_rate, or a compiled model whose optimizer's learning "
                "rate is the look-ahead step. Received: learning_rate=None and no optimizer.")
        learning_rate = model.optimizer.learning_rate
    elif isinstance(learning_rate, (int, float)):
        check_number(learning_rate, "learning_rate", min_value=0, min_exclusive=True)
    check_labels(model, y, sample_weight)
    check_jit_compile(jit_compile)

    def compute(x, y, sample_weight, learning_rate):
        labels = _Labels(model, y, sample_weight)
        values, index, non_trainable, grads, _, counts = _trunk_jacobian(model, x, labels)
        lr = tf.cast(learning_rate, tf.float32)
        # Entry 0: the trunk as it is; entry 1 + i: after the step on task i.
        trunks = [tf.cast(tf.concat([v[None], v[None] - lr * g], axis=0), values[k].dtype)
                  for k, g in zip(index, grads) for v in [tf.cast(values[k], tf.float32)]]

        def sums_with(trunk_values):
            current = list(values)
            for k, v in zip(index, trunk_values):
                current[k] = v
            y_pred, _ = model.stateless_call(current, non_trainable, x, training=True)
            return labels.sums(y_pred)

        # One batched forward pass for the T + 1 trunks: the losses before and
        # after come from the same computation, so a step that cannot reach
        # task j's output leaves L_j exactly unchanged (Z = 0).
        (sums,) = _sum_over_replicas(tf.vectorized_map(sums_with, trunks))
        losses = tf.math.divide_no_nan(sums, counts[None, :])
        before, after = losses[0], losses[1:]   # after[i, j]: L_j after the step on i
        present = tf.cast(counts > 0, tf.float32)
        measured = present[:, None] * (present * tf.cast(before > 0, tf.float32))[None, :]
        ratio = tf.math.divide_no_nan(after, before[None, :])
        return tf.where(measured > 0, 1.0 - ratio, 0.0), measured

    return PairMeasure(*_run(compute, model, jit_compile, x, y, sample_weight,
                             tf.cast(learning_rate, tf.float32)))


def gradient_cosines(model, x, y, sample_weight=None, mode: str = "representation",
                     jit_compile="auto") -> PairMeasure:
    """Pairwise cosine similarity of the task gradients on one batch.

    Args:
        model: A built `mtl_keras.MultiTaskModel`.
        x, y, sample_weight: The batch, as `model.fit` receives it.
        mode: `"representation"` (default): gradients w.r.t. the shared
            representation, the trunk's output over the batch (one backward
            pass through the heads; hard sharing only). `"parameters"`: w.r.t.
            the trunk's trainable variables (one vectorised jacobian; every
            architecture).
        jit_compile: As for `lookahead_affinity`.

    Returns:
        A `PairMeasure` of cosines, measured where both tasks have labels in
        the batch and a non-zero gradient.

    Raises:
        ValueError: An unknown mode, or `"representation"` for a model
            without one shared representation.

    Example:

    >>> import keras, numpy as np, mtl_keras as mtl
    >>> tasks = [mtl.Task("a", "regression"), mtl.Task("b", "regression")]
    >>> model = mtl.build_hard_sharing(keras.Input((3,)), mtl.backbones.mlp([4]), tasks)
    >>> x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    >>> y = {"a": np.ones(8, "float32"), "b": np.ones(8, "float32")}
    >>> cos = mtl.affinity.gradient_cosines(model, x, y).values.numpy()
    >>> round(float(cos[0, 0]), 4)
    1.0
    """
    check_mode(mode, model)
    check_labels(model, y, sample_weight)
    check_jit_compile(jit_compile)

    def compute(x, y, sample_weight):
        labels = _Labels(model, y, sample_weight)
        if mode == "representation":
            reps = _stateless(model.trunk, x)
            copies = [tf.stop_gradient(reps) for _ in model.tasks]
            with tf.GradientTape() as tape:
                tape.watch(copies)
                y_pred = {t.name: _stateless(head, c)
                          for t, head, c in zip(model.tasks, model.heads, copies)}
                total = tf.reduce_sum(labels.sums(y_pred))
            # Row t is the gradient of task t's loss w.r.t. its own copy of the
            # representation (this replica's samples).
            rows = tf.stack([tf.reshape(tf.cast(tf.zeros_like(reps) if g is None else g,
                                                tf.float32), [-1])
                             for g in tape.gradient(total, copies)])
            # The global rows are the replicas' rows side by side: Gram matrices add up.
            counts, k = _sum_over_replicas(labels.counts, gram(rows))
            cos = cosines(k)
            nonzero = tf.cast(tf.linalg.diag_part(k) > 0, tf.float32)
        else:
            _, _, _, grads, _, counts = _trunk_jacobian(model, x, labels)
            rows = tf.concat([tf.reshape(g, [len(model.tasks), -1]) for g in grads], axis=1)
            cos = cosine_matrix(rows)
            nonzero = tf.cast(tf.reduce_any(tf.not_equal(rows, 0.0), axis=1), tf.float32)
        keep = tf.cast(counts > 0, tf.float32) * nonzero
        measured = keep[:, None] * keep[None, :]
        return cos * measured, measured

    return PairMeasure(*_run(compute, model, jit_compile, x, y, sample_weight))


def check_mode(mode, model) -> str:
    """Validates a `gradient_cosines` mode for `model`; returns it.

    Raises:
        ValueError: A mode not in `MODES`, or `"representation"` for a model
            whose trunk outputs one representation per task.
    """
    if mode not in MODES:
        raise ValueError(f"Expected mode to be one of {list(MODES)}. Received: mode={mode!r}")
    if mode == "representation" and not model.has_shared_representation:
        raise ValueError(
            "Expected mode='parameters' for a model whose trunk outputs one representation "
            "per task (soft sharing, cross-stitch, MMoE/PLE, grouped): there the tasks' "
            "representation gradients are taken w.r.t. different tensors. Received: "
            "mode='representation'.")
    return mode


# ----------------------------------------------------------- shared check
def trunk_variable_tasks(model) -> list[tuple[keras.Variable, tuple[str, ...]]]:
    """Which tasks' outputs each trainable variable of the trunk reaches.

    Traced once with the model's input signature (nothing runs): a variable
    reaches task `t` when task `t`'s output has a gradient path to it.

    Returns:
        `(variable, task names)` for every trainable variable of the trunk,
        in `model.trunk.trainable_variables` order.
    """
    trunk_vars = list(model.trunk.trainable_variables)
    reached = [set() for _ in trunk_vars]
    spec = tf.nest.map_structure(
        lambda t: tf.TensorSpec(t.shape, keras.backend.standardize_dtype(t.dtype)),
        model.trunk.input)

    def trace(inputs):
        with tf.GradientTape(persistent=True) as tape:
            outputs = model(inputs, training=False)
            scalars = {name: tf.reduce_sum(tf.cast(out, tf.float32))
                       for name, out in outputs.items()}
        for name, scalar in scalars.items():
            grads = tape.gradient(scalar, trunk_vars,
                                  unconnected_gradients=tf.UnconnectedGradients.NONE)
            for k, g in enumerate(grads):
                if g is not None:
                    reached[k].add(name)
        return 0

    tf.function(trace, autograph=False).get_concrete_function(spec)
    order = model.task_names
    return [(v, tuple(n for n in order if n in r)) for v, r in zip(trunk_vars, reached)]


def check_shared_trunk(model, what: str = "Task affinity") -> None:
    """Raises unless `model` is a multi-task model whose trunk shares variables.

    Args:
        model: The model to check.
        what: What needs the check, for the message.

    Raises:
        ValueError: Not a `MultiTaskModel`, fewer than two tasks, or no trunk
            variable that reaches two tasks' outputs.
    """
    names = getattr(model, "task_names", None)
    if names is None or not hasattr(model, "trunk"):
        raise ValueError(
            f"{what} expects a `mtl_keras.MultiTaskModel`. Received a model of type "
            f"{type(model).__name__}.")
    if len(names) < 2:
        raise ValueError(
            f"{what} expects a model with at least two tasks. Received: tasks={names}")
    if not any(len(tasks) >= 2 for _, tasks in trunk_variable_tasks(model)):
        raise ValueError(
            f"{what} expects a model whose trunk has trainable variables shared by at least "
            "two tasks (hard sharing, cross-stitch, MMoE, PLE, or grouped sharing with a "
            "group of two or more tasks). Received: a trunk in which every trainable "
            "variable feeds a single task (e.g. soft sharing, whose towers are coupled by "
            "a penalty but share no variable), so a step on one task's loss cannot change "
            "another task's loss.")
