"""`MultiTaskModel`: a trunk, one named head per task, and a weighted, masked loss."""

from __future__ import annotations

from typing import Any, Sequence

import keras
import tensorflow as tf
from keras import ops

from mtl_keras import _keras_internals as internals
from mtl_keras import validation
from mtl_keras import weighting as weighting_lib
from mtl_keras.gradient_step import GradientStep
from mtl_keras.layers.penalty_layer import PenaltyLayer
from mtl_keras.layers.task_head import TaskHead
from mtl_keras.step_record import StepLosses, StepTrackers, task_sample_weight
from mtl_keras.tasks import Task, validate_tasks


@keras.saving.register_keras_serializable(package="mtl_keras")
class MultiTaskModel(keras.Model):
    """A multi-task model: `inputs -> trunk -> {task: head(representation)}`.

    The trunk is a functional `keras.Model` that maps the inputs to either one
    shared representation (hard parameter sharing: every head reads it) or a
    dict `{task_name: representation}` (soft sharing, cross-stitch, gated
    experts: each head reads its own). Each task gets a head layer named after
    it; the model's outputs are a dict keyed by task name.

    Use a builder (`mtl_keras.build_hard_sharing`, ...) rather than this
    constructor directly.

    Training. `compile(optimizer, weighting=...)` takes the losses and metrics
    from the tasks. Labels are a dict keyed by each task's `label_key`; a
    missing label (NaN, a negative class id, or a zero per-task sample weight)
    leaves that sample out of that task's loss and metrics only. Logs hold
    `loss` (the optimized total), `<task>_loss` (mean over labelled samples),
    `<task>_<metric>` and `<task>_weight` (the weight in use, training only).

    Args:
        trunk: Functional `keras.Model` from the inputs to the representation(s).
        tasks: List of `mtl_keras.Task`.
        heads: Optional list of head layers, one per task in order, each named
            after its task. Default: a `TaskHead` built from each task's spec.
        **kwargs: Base `keras.Model` arguments (`name`, `trainable`, `dtype`).

    Example:

    >>> import keras, numpy as np, mtl_keras as mtl
    >>> tasks = [mtl.Task("a", "binary"), mtl.Task("b", "regression")]
    >>> model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]), tasks)
    >>> model.compile(optimizer="adam", weighting={"a": 2.0})
    >>> x = np.random.rand(16, 4).astype("float32")
    >>> y = {"a": np.random.randint(0, 2, 16), "b": np.random.rand(16)}
    >>> history = model.fit(x, y, epochs=1, verbose=0)
    >>> sorted(k for k in history.history if k.startswith("a_"))
    ['a_accuracy', 'a_auc', 'a_loss', 'a_weight']
    >>> model.task_model("b").output.shape
    (None, 1)
    """

    def __init__(
        self,
        trunk: keras.Model,
        tasks: Sequence[Task],
        heads: Sequence[keras.layers.Layer] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        tasks = validate_tasks(list(tasks))
        rep = None
        if isinstance(trunk, keras.Model):
            try:
                rep = trunk.output  # the output structure of a functional model
            except (AttributeError, ValueError):
                pass
        if rep is None:
            raise TypeError(
                "Expected trunk to be a functional `keras.Model` "
                f"(inputs -> representation). Received: {trunk!r}"
            )
        names = [t.name for t in tasks]
        if isinstance(rep, dict):
            if sorted(rep) != sorted(names):
                raise ValueError(
                    "Expected the trunk's output dict to be keyed by the task names "
                    f"{names}. Received keys: {sorted(rep)}"
                )
            rep_shapes = {n: tuple(rep[n].shape) for n in names}
        elif isinstance(rep, (list, tuple)):
            raise ValueError(
                "Expected the trunk to output one tensor (shared representation) or a "
                f"dict keyed by task name. Received a {type(rep).__name__} of "
                f"{len(rep)} tensors."
            )
        else:
            rep_shapes = {n: tuple(rep.shape) for n in names}
        if heads is None:
            heads = [
                TaskHead(
                    t.output_size,
                    hidden_units=t.head_units,
                    activation=t.head_activation,
                    dropout=t.head_dropout,
                    output_activation=t.output_activation,
                    name=t.name,
                )
                for t in tasks
            ]
        heads = list(heads)
        if [h.name for h in heads] != names:
            raise ValueError(
                "Expected one head per task, named after its task, in task order "
                f"{names}. Received head names: {[h.name for h in heads]}"
            )
        for head, task in zip(heads, tasks):
            if not head.built:
                head.build(rep_shapes[task.name])
        self.trunk = trunk
        self.heads = heads
        self._tasks = tuple(tasks)
        self._shared_representation = not isinstance(rep, dict)
        self.weighting = None
        self._trackers = None
        self._gradient_step = None
        self.built = True

    # ----------------------------------------------------------------- basics
    @property
    def tasks(self) -> tuple[Task, ...]:
        """The model's tasks, in output order."""
        return self._tasks

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self._tasks]

    @property
    def has_shared_representation(self) -> bool:
        """True when every head reads the same trunk output (hard sharing)."""
        return self._shared_representation

    def get_task(self, name: str) -> Task:
        for t in self._tasks:
            if t.name == name:
                return t
        raise ValueError(f"Unknown task {name!r}. Expected one of {self.task_names}.")

    def call(self, inputs, training=None):
        reps = self.trunk(inputs, training=training)
        outputs = {}
        for task, head in zip(self._tasks, self.heads):
            rep = reps if self._shared_representation else reps[task.name]
            outputs[task.name] = head(rep, training=training)
        return outputs

    def representation(self, inputs, training=None):
        """The trunk's output(s) for `inputs`."""
        return self.trunk(inputs, training=training)

    def task_model(self, name: str) -> keras.Model:
        """A functional model for one task that shares this model's weights.

        It computes only what `name` needs: the trunk's sub-graph that feeds
        this task's representation (the whole backbone for hard sharing, the
        task's own tower and what it reads for soft sharing) and its head.

        Raises:
            ValueError: For a name that is not a task of this model.
        """
        self.get_task(name)
        head = self.heads[self.task_names.index(name)]
        rep = self.trunk.output
        rep = rep if self._shared_representation else rep[name]
        return keras.Model(self.trunk.input, head(rep), name=f"{name}_model")

    # ---------------------------------------------------------------- compile
    def compile(
        self,
        optimizer: Any = "adam",
        weighting: Any = None,
        loss_weights: dict | None = None,
        run_eagerly: bool = False,
        steps_per_execution: int = 1,
        jit_compile: Any = "auto",
        auto_scale_loss: bool = True,
        loss: Any = None,
        metrics: Any = None,
    ):
        """Configures training. Losses and metrics come from the tasks.

        Args:
            optimizer: Keras optimizer or its name.
            weighting: How task losses are combined: `None` (static weights from
                the tasks), a method name (`mtl_keras.weighting.available()`),
                a dict `{task: weight}` of static weights, or a
                `mtl_keras.weighting.Weighting` instance.
            loss_weights: Keras-style alias for a dict of static weights.
            run_eagerly, steps_per_execution, jit_compile, auto_scale_loss:
                As in `keras.Model.compile`. With a gradient-combination
                method, `jit_compile` (True, or "auto" when every layer
                supports XLA and, without a GPU, none is a convolution)
                compiles the step's gradient computation and
                combination with XLA, leaving the
                finite check and the optimizer update outside; False turns
                that off (see `mtl_keras.gradient_step`).
            loss, metrics: Not accepted: each `Task` owns its loss and metrics.

        Raises:
            ValueError: Unknown method, weights for unknown tasks, negative or
                non-finite weights, or `loss`/`metrics` given.
        """
        if loss is not None or metrics is not None:
            raise ValueError(
                "MultiTaskModel takes losses and metrics from its tasks: use "
                "`Task(..., loss=..., metrics=[...])`. Received: "
                f"loss={loss!r}, metrics={metrics!r}"
            )
        if loss_weights is not None:
            if weighting is not None:
                raise ValueError(
                    "Expected either weighting or loss_weights, not both. Received: "
                    f"weighting={weighting!r}, loss_weights={loss_weights!r}"
                )
            weighting = dict(loss_weights)
        strategy = weighting_lib.get(weighting)
        strategy.build_for_tasks(self._tasks)
        if strategy.combines_gradients:
            strategy.check_model(self)
        internals.replace_tracked(self, self.weighting, strategy, "weighting")
        # Gradient-combination steps compile their own XLA part (everything
        # but the finite check and the update, see `GradientStep`), so Keras
        # must not compile the whole step.
        super().compile(
            optimizer=optimizer,
            run_eagerly=run_eagerly,
            steps_per_execution=steps_per_execution,
            jit_compile=False if strategy.combines_gradients else jit_compile,
            auto_scale_loss=auto_scale_loss,
        )
        self._create_step_objects(strategy, jit_compile)
        self._mtl_compile_config = {
            "optimizer": keras.optimizers.serialize(self.optimizer)
            if not isinstance(optimizer, str) else optimizer,
            "weighting": keras.saving.serialize_keras_object(strategy),
            "run_eagerly": run_eagerly,
            "steps_per_execution": steps_per_execution,
            "jit_compile": jit_compile,
            "auto_scale_loss": auto_scale_loss,
        }

    @internals.untracked
    def _create_step_objects(self, strategy, jit_compile):
        # Rebuilt by every `compile`; not saved sub-objects of the model.
        self._trackers = StepTrackers(
            self._tasks, [layer.penalty_log_name for layer in self.penalty_layers],
            has_regularization=bool(self.losses))
        self._gradient_step = (GradientStep(self, jit_compile)
                               if strategy.combines_gradients else None)

    @property
    def penalty_layers(self) -> list[PenaltyLayer]:
        """The model's layers with a logged penalty (e.g. soft sharing's towers)."""
        return [layer for layer in internals.sublayers(self)
                if isinstance(layer, PenaltyLayer) and layer.penalty_log_name]

    @property
    def gradient_step(self) -> GradientStep | None:
        """The compiled gradient-combination step (None for loss-level methods)."""
        return self._gradient_step

    def get_compile_config(self):
        if self.compiled and getattr(self, "_mtl_compile_config", None):
            return dict(self._mtl_compile_config)
        return {}

    def compile_from_config(self, config):
        config = dict(config)
        optimizer = config.pop("optimizer")
        if isinstance(optimizer, dict):
            optimizer = keras.optimizers.deserialize(optimizer)
        weighting = keras.saving.deserialize_keras_object(config.pop("weighting"))
        self.compile(optimizer=optimizer, weighting=weighting, **config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    @property
    def metrics(self):
        metrics = list(super().metrics)
        if self._trackers is not None:
            metrics.extend(self._trackers.metrics)
        return metrics

    @property
    def losses(self):
        """Regularization losses of the layers plus every `PenaltyLayer`'s penalty."""
        return super().losses + [p for p in (layer.penalty() for layer in self.penalty_layers)
                                 if p is not None]

    # ---------------------------------------------------------- loss, metrics
    def _label_dict(self, y):
        if isinstance(y, dict):
            return y
        if len(self._tasks) == 1 and y is not None and not isinstance(y, (list, tuple)):
            return {self._tasks[0].label_key: y}
        raise ValueError(
            "Expected labels as a dict keyed by task label keys "
            f"{[t.label_key for t in self._tasks]}. Received: {type(y).__name__}"
        )

    def step_losses(self, y, y_pred, sample_weight=None) -> StepLosses:
        """A batch's masked per-task losses and regularization terms (see `StepLosses`).

        Each task's loss is the (sample-weighted) mean over its labelled
        samples in the global batch; each penalty is computed once, by an
        explicit `PenaltyLayer.penalty()` call.
        """
        labels = self._label_dict(y)
        validation.check_label_keys(labels, self._tasks)
        validation.check_sample_weight_keys(sample_weight, self._tasks)
        sums, counts = [], []
        for task in self._tasks:
            clean, mask = task.prepare_labels(
                labels[task.label_key], task_sample_weight(sample_weight, task))
            values = task.loss_values(clean, y_pred[task.name])
            sums.append(ops.sum(values * mask))
            counts.append(ops.sum(mask))
        sums, counts = ops.stack(sums), ops.stack(counts)
        global_counts = _replica_sum(counts)
        local = ops.divide_no_nan(sums, global_counts)
        present = ops.cast(ops.greater(global_counts, 0.0), "float32")
        penalties = [layer.penalty() for layer in self.penalty_layers]
        terms = [ops.cast(ops.sum(v), "float32") for v in super().losses]
        terms += [ops.cast(p, "float32") for p in penalties if p is not None]
        regularization = (ops.sum([internals.scale_loss_for_distribution(t) for t in terms])
                          if terms else None)
        return StepLosses(sums, counts, local, present, regularization, penalties)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The optimized loss of a batch: the weighted task losses plus regularization.

        Also records the batch in the model's logs (`<task>_loss`, and in
        training `<task>_weight`).
        """
        if self.weighting is None:
            raise ValueError("Call `compile()` before training or evaluating the model.")
        losses = self.step_losses(y, y_pred, sample_weight)
        global_losses = ops.stop_gradient(_replica_sum(losses.local))
        total, weights = self.weighting.combine(losses.local, global_losses, losses.present,
                                                training)
        if losses.regularization is not None:
            total = total + losses.regularization
        self._trackers.record(losses, weights if training else None)
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        self._trackers.update_task_metrics(self._label_dict(y), y_pred, sample_weight)
        return self.get_metrics_result()

    def train_step(self, data):
        if self._gradient_step is None:
            return self._multi_worker_logs(super().train_step(data))
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y_pred, losses, weights, total = self._gradient_step(x, y, sample_weight)
        self._trackers.record(losses, weights)
        internals.loss_tracker(self).update_state(
            internals.unscale_loss_for_distribution(total),
            sample_weight=tf.shape(tf.nest.flatten(x)[0])[0])
        return self._multi_worker_logs(self.compute_metrics(x, y, y_pred, sample_weight))

    def test_step(self, data):
        logs = super().test_step(data)
        # Weights are a training quantity: keep them out of evaluation logs.
        weight_keys = self._trackers.weight_log_keys
        logs = {k: v for k, v in logs.items() if k not in weight_keys}
        return self._multi_worker_logs(logs)

    def _multi_worker_logs(self, logs):
        # Under MultiWorkerMirroredStrategy Keras 3 reduces every log with
        # `strategy.reduce("MEAN", value, axis=0)`, which fails on scalars
        # (tensorflow/tensorflow#72388). Metric variables are already summed
        # over replicas, so each log is the same everywhere: give it an axis.
        if not internals.is_multi_worker(self.distribute_strategy):
            return logs
        return {k: ops.reshape(v, (1,)) if len(ops.shape(v)) == 0 else v
                for k, v in logs.items()}

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras builds a model created under a strategy scope from one batch
        # that it all-reduces with `strategy.reduce`, which fails for nested
        # (features, {task: labels}) batches under MultiWorkerMirroredStrategy.
        # Only shapes matter here: use this worker's first replica's batch.
        # (tests/test_keras_internals.py checks that Keras still calls this hook.)
        if internals.has_own_strategy(self) and iterator is not None:
            data_batch = internals.first_replica_batch(self.distribute_strategy, iterator)
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    # ------------------------------------------------------ fit and friends
    def fit(self, x=None, y=None, *args, validation_data=None, callbacks=None, **kwargs):
        """`keras.Model.fit`, with the data checked against the tasks first.

        Labels with unknown or missing task keys, or of a shape or dtype that
        does not fit a task's kind, per-task sample weights for unknown tasks
        and empty data raise a `ValueError` before any step runs. Values are
        checked too (class ids within a task's classes, binary labels in
        [0, 1], finite regression targets and features, non-negative sample
        weights): arrays before training, a `tf.data.Dataset` batch by batch
        before each batch reaches the model, each failure a `ValueError`
        naming the task or input and the values received.
        """
        x = validation.check_data(self, x, y, "x", kwargs.get("sample_weight"))
        if validation_data is not None:
            vx, vy, vsw = _split_validation(validation_data)
            checked = validation.check_data(self, vx, vy, "validation_data", vsw)
            if checked is not vx:
                validation_data = checked
        callbacks = list(callbacks or [])
        # First, so that later callbacks (BackupAndRestore, checkpoints) see the
        # state after the strategy's end-of-epoch update.
        callbacks.insert(0, _WeightingEpochHook())
        if isinstance(x, tf.data.Dataset):
            # A dataset shuffles itself; Keras would only warn about `shuffle`.
            kwargs.setdefault("shuffle", False)
        with validation.readable_data_errors():
            history = super().fit(x, y, *args, validation_data=validation_data,
                                  callbacks=callbacks, **kwargs)
        if not history.history and history.epoch:
            raise ValueError(
                "Expected `x` to yield at least one batch. Received: no batch in "
                f"{len(history.epoch)} epoch(s) (an empty dataset?)"
            )
        return history

    def evaluate(self, x=None, y=None, *args, **kwargs):
        x = validation.check_data(self, x, y, "x", kwargs.get("sample_weight"))
        with validation.readable_data_errors():
            return super().evaluate(x, y, *args, **kwargs)

    # ---------------------------------------------------------- serialization
    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            # The policy decides whether compile wraps the optimizer in a
            # LossScaleOptimizer (mixed_float16): a model reloaded under another
            # global policy must get the same optimizer, or its state is skipped.
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "trunk": keras.saving.serialize_keras_object(self.trunk),
            "tasks": [keras.saving.serialize_keras_object(t) for t in self._tasks],
            "heads": [keras.saving.serialize_keras_object(h) for h in self.heads],
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        trunk = keras.saving.deserialize_keras_object(config.pop("trunk"),
                                                      custom_objects=custom_objects)
        tasks = [keras.saving.deserialize_keras_object(t, custom_objects=custom_objects)
                 for t in config.pop("tasks")]
        heads = [keras.saving.deserialize_keras_object(h, custom_objects=custom_objects)
                 for h in config.pop("heads")]
        return cls(trunk=trunk, tasks=tasks, heads=heads, **config)

    def summary(self, *args, **kwargs):
        """Prints the trunk's layer summary, then the heads."""
        self.trunk.summary(*args, **kwargs)
        super().summary(*args, **kwargs)


class _WeightingEpochHook(keras.callbacks.Callback):
    """Tells the weighting strategy that an epoch ended (e.g. DWA's loss history)."""

    def on_epoch_end(self, epoch, logs=None):
        strategy = getattr(self.model, "weighting", None)
        if strategy is not None:
            strategy.on_epoch_end(epoch)


def _replica_sum(x):
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return x
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, x)


def _split_validation(validation_data):
    if isinstance(validation_data, (list, tuple)):
        parts = list(validation_data) + [None, None]
        return parts[0], parts[1], parts[2]
    return validation_data, None, None
