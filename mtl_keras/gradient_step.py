"""The training step of gradient-combination methods (PCGrad, MGDA, CAGrad, ...).

`MultiTaskModel.compile` gives the model a `GradientStep` when the weighting
strategy has `combines_gradients = True`; the model's `train_step` calls it,
then records the step's losses and weights in the same trackers as the
loss-level methods do. One step:

1. Forward pass: `trunk -> representation(s) -> heads`, masked per-task losses
   (`MultiTaskModel.step_losses`, exactly as for loss-level methods), plus the
   regularization losses. With a `LossScaleOptimizer` (mixed precision) the
   losses are multiplied by the loss scale before differentiation.
2. Per-task gradients, vectorised over tasks with one `tape.jacobian(...,
   experimental_use_pfor=True)` (TensorFlow's parallel-for turns the
   `num_tasks` backward passes into one batched backward pass):

   * `mode="parameters"`: w.r.t. the trunk's trainable variables, flattened
     into a `(num_tasks, dim)` matrix;
   * `mode="representation"`: w.r.t. the trunk's output (the batch of shared
     representations, flattened); the per-task backward passes stop there.

   The matrix is unscaled (divided by the loss scale) before it is combined.
3. Tasks without a label in the (global) batch are marked absent
   (`present == 0`); their rows are zero (their masked loss is identically
   0) and every rule leaves them out.
4. Non-finite rows raise an `InvalidArgumentError` naming the task(s), unless a
   `LossScaleOptimizer` is in use: it expects occasional overflow and skips
   such steps (lowering the loss scale) itself. Either way the rule then sees
   a zero matrix with no task present (its state is left alone) and nothing
   is applied.
5. `direction, weights = model.weighting.combine_gradients(matrix, present,
   losses=global_losses)`, the same call for every rule (`losses` is None
   unless the rule declares `needs_losses`).
6. Head variables get the gradient of the sum of the task losses (each head
   only sees its own task); regularization gradients are added to every
   variable; the optimizer applies it all.

Steps 1-5 and the gradients of step 6 form one function, compiled with XLA
when the model was compiled with `jit_compile=True`, or `"auto"` (default)
and every layer supports XLA (without a GPU: and no layer is a convolution,
see `xla_helps`), and no distribution strategy is in use; the
finite check and the optimizer update run outside it.

How the rows are computed with one shared representation (hard sharing):
every head reads its own `stop_gradient` copy of the trunk's output, so one
ordinary backward pass through the heads gives each task's gradient w.r.t.
the representation (row `t` is the gradient of loss `t` w.r.t. copy `t`) and
the heads' own gradients. Representation mode combines these rows and
carries the direction through the trunk with one backward pass; parameters
mode turns them into per-task trunk gradients with one `pfor` jacobian of the
`T` vector-Jacobian products through the trunk only. Without a shared
representation (soft sharing, MMoE, ...) one `pfor` jacobian of the task
losses w.r.t. the trunk and head variables gives both.

Distribution (`tf.distribute.MirroredStrategy`): each replica's per-task
losses are its share of the global mean (see `MultiTaskModel.compute_loss`),
so in parameters mode the per-task gradient matrix is **all-reduced (summed)
across replicas before combining**: every replica combines the same global
matrix and computes the same direction. In representation mode the columns
of the matrix are the replica's own samples, so the matrices are
**all-gathered along the sample axis** (as a sum of zero-padded blocks); each replica combines the full matrix
and back-propagates its own slice of the direction. Since Keras optimizers
sum gradients over replicas, the replicated parameter-mode direction is
divided by the number of replicas before it is applied.

Logs: `<task>_weight` is the weight the rule gave each task (for rules that
are not a weighted sum, see each method's documentation); `loss` is the sum
of the task losses plus regularization, as in evaluation.
"""

from __future__ import annotations

import keras
import tensorflow as tf


from mtl_keras import _keras_internals as internals
from mtl_keras.loss_step import apply_once_checked, available_after, gate_batch

# Convolutions: XLA's CPU code for them (and for their pfor-batched gradients)
# is slower than TensorFlow's kernels (see `xla_helps`).
_CONV_LAYERS = (
    keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D,
    keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose,
    keras.layers.SeparableConv1D, keras.layers.SeparableConv2D,
    keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D,
)


def _replica_context():
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return None
    return ctx


def _flatten_rows(jacobians, num_tasks):
    return tf.concat(
        [tf.reshape(tf.cast(j, tf.float32), [num_tasks, -1]) for j in jacobians], axis=1
    )


def _split_like(vector, variables):
    sizes = [_num_elements(v) for v in variables]
    parts = tf.split(vector, sizes)
    return [tf.reshape(p, v.shape) for p, v in zip(parts, variables)]


def _num_elements(variable):
    n = 1
    for d in variable.shape:
        n *= int(d)
    return n


def _add(grads, extra):
    """Adds `extra` (same order, possibly shorter, None allowed) to `grads`."""
    out = list(grads)
    for i, g in enumerate(extra):
        if g is not None:
            out[i] = g if out[i] is None else out[i] + tf.cast(g, out[i].dtype)
    return out


def _check_finite(finite, task_names):
    """Raises `InvalidArgumentError` naming the tasks whose rows are not finite.

    Returns the assert op in graphs (None when run eagerly)."""
    bad = tf.boolean_mask(tf.constant(list(task_names)), tf.logical_not(finite))
    return tf.debugging.Assert(
        tf.reduce_all(finite),
        [
            "Expected finite per-task gradients. Received NaN or inf in the "
            "gradient of task(s):",
            bad,
            "Check those tasks' labels (inputs, loss) or lower the learning rate.",
        ],
        name="check_task_gradients",
    )


def _is_loss_scale_optimizer(optimizer):
    return isinstance(optimizer, keras.optimizers.LossScaleOptimizer)


def xla_helps(model) -> bool:
    """Whether `jit_compile="auto"` compiles a gradient method's step.

    Only when every layer supports XLA (Keras' rule: e.g. `StringLookup`
    does not), and, without a GPU, only for models without convolutions:
    on CPU the compiled step of an MLP trunk is 10-20% faster, but that
    of a small conv net (the MultiFashion LeNet) measured ~1.35x slower.
    """
    layers = internals.sublayers(model)
    if not all(getattr(layer, "supports_jit", True) for layer in layers):
        return False
    if tf.config.list_physical_devices("GPU"):
        return True
    return not any(isinstance(layer, _CONV_LAYERS) for layer in layers)


class GradientStep:
    """The gradient computation and update of one step of a gradient method.

    Owned by a compiled `MultiTaskModel` whose weighting strategy combines
    gradients; it reads only the model's public interface (`trunk`, `heads`,
    `tasks`, `step_losses`, `optimizer`, `weighting`).

    Args:
        model: The compiled `MultiTaskModel`.
        jit_compile: The `jit_compile` given to `compile`: True, False or
            `"auto"` (compile when `xla_helps(model)`).
    """

    def __init__(self, model, jit_compile="auto"):
        self.model = model
        self.jit_compile = bool(jit_compile is True or (jit_compile == "auto"
                                                        and xla_helps(model)))

    def __call__(self, x, y, sample_weight=None, check=None, waits=()):
        """Computes and applies one step's update, once `check` passed and `waits` ran.

        As in `LossStep`, the step does not wait for the batch's value check
        longer than it must: the gradients are computed beside the check
        unless the forward pass or the rule may assign a variable
        (`forward_may_assign`: BatchNorm statistics, a rule's step counter or
        history), and only the update and the outputs wait for it. The XLA
        function that computes the gradients (see the module docstring)
        raises nothing, so it may read the unchecked labels; without it the
        labels wait, so that the check's error wins over a loss's.

        Args:
            x, y, sample_weight: The replica's batch.
            check: The batch's value check (`validation.assert_batch_values`),
                or None.
            waits: Other tensors the update must wait for (step observers).

        Returns:
            `(y_pred, losses, weights, total)`: the predictions, the step's
            `StepLosses`, the rule's task weights and the summed task losses
            plus regularization (this replica's share, as Keras' `loss`),
            each available only after the check and waits.

        Raises:
            InvalidArgumentError: When a task's gradient is not finite (no
                update is applied), unless a `LossScaleOptimizer` is in use.
        """
        model = self.model
        trunk_vars = list(model.trunk.trainable_variables)
        trunk_ids = {id(v) for v in trunk_vars}
        head_vars = [v for h in model.heads for v in h.trainable_variables
                     if id(v) not in trunk_ids]
        seen = trunk_ids | {id(v) for v in head_vars}
        other_vars = [v for v in model.trainable_variables if id(v) not in seen]
        variables = trunk_vars + head_vars + other_vars

        def compute(x, y, sample_weight):
            return _combined_gradients(model, trunk_vars, head_vars, other_vars,
                                       x, y, sample_weight)

        compiled = self.jit_compile and tf.inside_function() and _replica_context() is None
        if compiled:
            # Everything up to the update as one XLA cluster: it fuses the
            # vectorised backward pass, the Gram matrix and the rule (about 20%
            # of a parameters-mode step on CPU). The finite check and the
            # optimizer update stay outside (string messages and the optimizer's
            # own ops are not XLA's); collectives keep the step un-compiled.
            compute = tf.function(compute, jit_compile=True, autograph=False)
        # The XLA function raises nothing: it may read the unchecked labels.
        after, gate_all, y, sample_weight = gate_batch(model, check, waits, y, sample_weight,
                                                       labels_wait=not compiled)
        with tf.control_dependencies(after if gate_all else []):
            grads, y_pred, losses, weights, finite = compute(x, y, sample_weight)
        # Nothing leaves the step, and nothing is applied, before the check
        # passed; with non-finite gradients, before the finite check raised.
        y_pred, losses, weights = available_after(after, (y_pred, losses, weights))
        grad_waits, passed = list(after), check
        if finite is not None:
            # After the batch check: a batch it rejects may well have
            # non-finite gradients, and its error must win.
            with tf.control_dependencies(after):
                finite_check = _check_finite(finite, model.task_names)
            if finite_check is not None:
                grad_waits.append(finite_check)
                # The update's branch is taken only when both checks passed.
                all_finite = tf.reduce_all(finite)
                passed = all_finite if check is None else tf.logical_and(
                    tf.cast(check, tf.bool), all_finite)
        grads = available_after(grad_waits, grads)
        pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
        if pairs:
            apply_once_checked(model.optimizer, pairs, passed, grad_waits)
        total = tf.reduce_sum(losses.local * losses.present)
        if losses.regularization is not None:
            total = total + losses.regularization
        return y_pred, losses, tf.cast(weights, tf.float32), total


def _combined_gradients(model, trunk_vars, head_vars, other_vars, x, y, sample_weight):
    """Forward pass, per-task gradients and their combination (no update).

    Returns `(grads, y_pred, losses, weights, finite)`: `grads` aligned with
    `trunk_vars + head_vars + other_vars` (None where a variable gets no
    gradient), the predictions, the step's `StepLosses`, the rule's task
    weights and the `(num_tasks,)` finiteness of the gradient rows (None
    with a `LossScaleOptimizer`, which handles overflow itself).
    """
    strategy = model.weighting
    mode = strategy.mode
    optimizer = model.optimizer
    num_tasks = len(model.task_names)
    shared = model.has_shared_representation
    with tf.GradientTape(persistent=True) as tape:
        reps = model.trunk(x, training=True)
        if shared:
            # Each head reads its own copy of the representation, cut from the
            # trunk: one ordinary backward pass through the (small) heads then
            # gives every task's gradient w.r.t. the representation, row by row.
            head_ins = [tf.stop_gradient(reps) for _ in model.tasks]
            for h in head_ins:
                tape.watch(h)
        else:
            head_ins = [reps[t.name] for t in model.tasks]
        y_pred = {t.name: head(h, training=True)
                  for t, head, h in zip(model.tasks, model.heads, head_ins)}
        losses = model.step_losses(y, y_pred, sample_weight)
        local, present, reg = losses.local, losses.present, losses.regularization
        ctx = _replica_context()
        scaled_local = optimizer.scale_loss(local)
        scaled_total = tf.reduce_sum(scaled_local)  # recorded: differentiated below
        scaled_reg = optimizer.scale_loss(reg) if reg is not None else None

    if shared:
        grads = tape.gradient(scaled_total, head_ins + head_vars + other_vars)
        rep_rows = tf.stack([tf.zeros_like(reps) if g is None else g
                             for g in grads[:num_tasks]])
        head_grads = list(grads[num_tasks:])
        if mode == "parameters":
            # Per-task gradients w.r.t. the trunk: the T vector-Jacobian
            # products of the rows, vectorised by one pfor jacobian.
            with tape:
                # z_t = <row_t, representation> as one matrix-vector product:
                # differentiating z_t gives back row_t without a (T, T, ...)
                # broadcast inside the vectorised loop.
                z = tf.linalg.matvec(
                    tf.stop_gradient(tf.cast(tf.reshape(rep_rows, [num_tasks, -1]), tf.float32)),
                    tf.reshape(tf.cast(reps, tf.float32), [-1]))
            jac = tape.jacobian(z, trunk_vars, experimental_use_pfor=True)
            jac = [tf.zeros((num_tasks,) + tuple(v.shape)) if j is None else j
                   for j, v in zip(jac, trunk_vars)]
            matrix = _flatten_rows(jac, num_tasks)
        else:
            matrix = tf.reshape(tf.cast(rep_rows, tf.float32), [num_tasks, -1])
    else:
        # One vectorised jacobian gives the trunk rows and, summed over
        # tasks, the heads' gradients.
        jac_vars = trunk_vars + head_vars
        jac = tape.jacobian(scaled_local, jac_vars, experimental_use_pfor=True)
        jac = [tf.zeros((num_tasks,) + tuple(v.shape)) if j is None else j
               for j, v in zip(jac, jac_vars)]
        matrix = _flatten_rows(jac[:len(trunk_vars)], num_tasks)
        head_grads = [tf.reduce_sum(j, axis=0) for j in jac[len(trunk_vars):]]
        if other_vars:
            head_grads += list(tape.gradient(scaled_total, other_vars))

    loss_scaled = _is_loss_scale_optimizer(optimizer)
    if loss_scaled:
        scale = tf.cast(optimizer.scale_loss(tf.constant(1.0)), tf.float32)
        matrix = matrix / scale
    if ctx is not None:
        if mode == "parameters":
            matrix = ctx.all_reduce("sum", matrix)
        else:
            # All-gather along the sample axis, written as all-reduces (one
            # collective kind, so replicas never disagree on their order):
            # each replica writes its block at its offset in a zero matrix.
            replicas = ctx.num_replicas_in_sync
            replica = ctx.replica_id_in_sync_group
            local_size = tf.shape(matrix)[1:2]
            sizes = ctx.all_reduce("sum", tf.cast(local_size, tf.float32)
                                   * tf.one_hot(replica, replicas))
            sizes = tf.cast(sizes, tf.int32)
            offset = tf.reduce_sum(sizes[:replica])
            after = tf.reduce_sum(sizes) - offset - local_size[0]
            matrix = ctx.all_reduce("sum", tf.pad(matrix, [[0, 0], [offset, after]]))
    # No masking of the matrix is needed: a task without labels has a zero
    # loss (its masked sum is 0), so its row is exactly zero already.
    # A NaN or inf in a row makes its sum non-finite (one reduction instead
    # of an elementwise test; only finite rows whose sum overflows float32,
    # > 3e38, are reported too: such a gradient is unusable anyway). On such
    # a step the rule sees zeros and no task present, so stateful rules
    # leave their state alone; the step then raises (or, with a
    # LossScaleOptimizer, is skipped by the optimizer).
    finite = tf.math.is_finite(tf.reduce_sum(matrix, axis=1))
    all_finite = tf.reduce_all(finite)
    matrix = tf.where(all_finite, matrix, tf.zeros_like(matrix))
    rule_present = present * tf.cast(all_finite, present.dtype)

    # Every rule is called the same way; the global losses are summed over
    # replicas only for rules that declare `needs_losses`.
    global_losses = None
    if strategy.needs_losses:
        global_losses = tf.stop_gradient(
            local if ctx is None else ctx.all_reduce("sum", local))
    direction, weights = strategy.combine_gradients(matrix, rule_present, losses=global_losses)
    direction = tf.cast(direction, tf.float32)
    if loss_scaled:
        direction = direction * scale

    variables = trunk_vars + head_vars + other_vars
    if mode == "parameters":
        if ctx is not None:
            direction = direction / float(ctx.num_replicas_in_sync)
        grads = _split_like(direction, trunk_vars) + head_grads
        if reg is not None:
            grads = _add(grads, tape.gradient(scaled_reg, variables))
    else:
        if ctx is not None:
            direction = tf.slice(direction, tf.reshape(offset, [1]), local_size)
        out_grad = tf.cast(tf.reshape(direction, tf.shape(reps)), reps.dtype)
        with tape:
            # One backward pass carries the direction through the trunk
            # (plus the regularization gradients of every variable).
            surrogate = tf.reduce_sum(tf.cast(reps * tf.stop_gradient(out_grad), tf.float32))
            if reg is not None:
                surrogate = surrogate + scaled_reg
        targets = variables if reg is not None else trunk_vars
        back = tape.gradient(surrogate, targets)
        grads = _add([tf.zeros(v.shape) for v in trunk_vars] + head_grads, back)
    del tape

    if loss_scaled:
        finite = None
    return grads, y_pred, losses, weights, finite


__all__ = [
    "GradientStep",
    "xla_helps",
]
