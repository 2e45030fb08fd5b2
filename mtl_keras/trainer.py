"""`MultiTaskTrainer`: how a `MultiTaskModel` compiles, trains and evaluates.

Like Keras' own `Trainer` (which `keras.Model` inherits beside `Layer`), this
base class holds the training half of the model: `compile` (losses and
metrics from the tasks, a weighting strategy), the masked per-task losses of
a step (`step_losses`), one record of every step in `StepTrackers`, the
step objects (`LossStep` for loss-level methods, `GradientStep` for gradient
methods), and the data checks of
`fit`/`evaluate`. `MultiTaskModel` holds the architecture and serialization.

It relies on the model's architecture interface: `tasks`, `task_names`,
`trunk`, `heads`, `has_shared_representation`.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf
from keras import ops

from mtl_keras import _keras_internals as internals
from mtl_keras import validation
from mtl_keras import weighting as weighting_lib
from mtl_keras.gradient_step import GradientStep
from mtl_keras.layers.penalty_layer import PenaltyLayer
from mtl_keras.loss_step import LossStep
from mtl_keras.step_record import StepLosses, StepTrackers, task_sample_weight


class MultiTaskTrainer:
    """Training half of `MultiTaskModel` (use it through that class)."""

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
        strategy.build_for_tasks(self.tasks)
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
            self.tasks, [layer.penalty_log_name for layer in self.penalty_layers],
            has_regularization=bool(self.losses))
        self._gradient_step = (GradientStep(self, jit_compile)
                               if strategy.combines_gradients else None)
        self._loss_step = None if strategy.combines_gradients else LossStep(self)

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
        if len(self.tasks) == 1 and y is not None and not isinstance(y, (list, tuple)):
            return {self.tasks[0].label_key: y}
        raise ValueError(
            "Expected labels as a dict keyed by task label keys "
            f"{[t.label_key for t in self.tasks]}. Received: {type(y).__name__}"
        )

    def step_losses(self, y, y_pred, sample_weight=None) -> StepLosses:
        """A batch's masked per-task losses and regularization terms (see `StepLosses`).

        Each task's loss is the (sample-weighted) mean over its labelled
        samples in the global batch; each penalty is computed once, by an
        explicit `PenaltyLayer.penalty()` call.
        """
        labels = self._label_dict(y)
        validation.check_label_keys(labels, self.tasks)
        validation.check_sample_weight_keys(sample_weight, self.tasks)
        sums, counts, prepared = [], [], []
        for task in self.tasks:
            clean, mask = task.prepare_labels(
                labels[task.label_key], task_sample_weight(sample_weight, task))
            values = task.loss_values(clean, y_pred[task.name])
            sums.append(ops.sum(values * mask))
            counts.append(ops.sum(mask))
            prepared.append((clean, mask))
        sums, counts = ops.stack(sums), ops.stack(counts)
        global_counts = _replica_sum(counts)
        local = ops.divide_no_nan(sums, global_counts)
        present = ops.cast(ops.greater(global_counts, 0.0), "float32")
        penalties = [layer.penalty() for layer in self.penalty_layers]
        terms = [ops.cast(ops.sum(v), "float32") for v in super().losses]
        terms += [ops.cast(p, "float32") for p in penalties if p is not None]
        regularization = (ops.sum([internals.scale_loss_for_distribution(t) for t in terms])
                          if terms else None)
        return StepLosses(sums, counts, local, present, regularization, penalties,
                          tuple(prepared))

    def weighted_total(self, losses: StepLosses, training: bool = True):
        """`(total, weights)`: the strategy's weighted task losses plus regularization."""
        global_losses = ops.stop_gradient(_replica_sum(losses.local))
        total, weights = self.weighting.combine(losses.local, global_losses, losses.present,
                                                training)
        if losses.regularization is not None:
            total = total + losses.regularization
        return total, weights

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The optimized loss of a batch: the weighted task losses plus regularization.

        Also records the batch in the model's logs (`<task>_loss`, and in
        training `<task>_weight`).
        """
        if self.weighting is None:
            raise ValueError("Call `compile()` before training or evaluating the model.")
        losses = self.step_losses(y, y_pred, sample_weight)
        total, weights = self.weighted_total(losses, training)
        self._trackers.record(losses, weights if training else None)
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        self._trackers.update_task_metrics(self._label_dict(y), y_pred, sample_weight)
        return self.get_metrics_result()

    # ------------------------------------------------------- step observers
    #: Callables run inside the train step, before the update (see `add_step_observer`).
    _step_observers: tuple = ()

    @property
    def step_observers(self) -> tuple:
        """The step observers, in the order they run (see `add_step_observer`)."""
        return self._step_observers

    @internals.untracked
    def add_step_observer(self, observer) -> None:
        """Runs `observer(x, y, sample_weight)` inside every training step, before the update.

        The observer gets the replica's batch as the step unpacked it and runs
        as graph code in the train function; it may read the model's
        variables (their values before the step's update) but must not assign
        them. It returns the tensors the rest of the step must wait for, or
        None (then the step does not wait; TensorFlow still orders the
        observer's reads of a variable before the update's writes). The
        observers registered when the train function is made are bound into
        it: an observer takes part in functions made after it is added
        (`make_train_function(force=True)`), and removing it does not change
        a function already made. `mtl_keras.affinity`'s callbacks use this
        hook to measure chosen steps.

        Args:
            observer: A callable `(x, y, sample_weight) -> tensors or None`.

        Raises:
            TypeError: If `observer` is not callable.
        """
        if not callable(observer):
            raise TypeError(
                f"Expected observer to be a callable (x, y, sample_weight). Received: {observer!r}")
        self._step_observers = self._step_observers + (observer,)

    @internals.untracked
    def remove_step_observer(self, observer) -> None:
        """Removes `observer` (added by `add_step_observer`); no error if it is absent."""
        self._step_observers = tuple(o for o in self._step_observers if o is not observer)

    def make_train_function(self, force=False):
        """`keras.Model.make_train_function`, with the step observers registered now bound in."""
        if self.train_function is not None and not force:
            return self.train_function
        observers = self._step_observers
        train_step = self.train_step

        def observed_train_step(data):
            return train_step(data, observers=observers)

        # Keras makes the function from `self.train_step`, looked up during
        # this call (tests/test_step_observers.py checks that it still does).
        self.train_step = observed_train_step
        try:
            return super().make_train_function(force=force)
        finally:
            del self.train_step

    def train_step(self, data, observers=None):
        """One training step.

        Args:
            data: The batch, `(x, y)` or `(x, y, sample_weight)`.
            observers: The step observers to run (default: the registered
                ones; `make_train_function` passes those registered when it
                is called). A subclass that overrides `train_step` takes this
                argument and passes it on.
        """
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        check = validation.assert_batch_values(self.tasks, x, y, sample_weight)
        waits = []
        for observer in self._step_observers if observers is None else observers:
            out = observer(x, y, sample_weight)
            waits += [t for t in tf.nest.flatten(out) if t is not None]
        if self._gradient_step is None:
            # Its outputs come after the check; its forward pass may not (`LossStep`).
            # The metrics read the losses' labels, prepared from labels that waited
            # for the check (the predictions did not): no metric counts a rejected batch.
            y, sample_weight, y_pred, losses, weights, total = self._loss_step(
                x, y, sample_weight, check, waits)
        else:
            y_pred, losses, weights, total = self._gradient_step(
                x, y, sample_weight, check, waits)
        return self._multi_worker_logs(
            self._record_step(x, y, y_pred, sample_weight, losses, weights, total))

    def test_step(self, data):
        """One evaluation step: Keras' own, with the masked losses computed once.

        The losses and metrics read the same prepared labels and masks, as in
        `train_step` (Keras' `test_step` would prepare them twice, once in
        `compute_loss` and once in `compute_metrics`).
        """
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        check = validation.assert_batch_values(self.tasks, x, y, sample_weight)
        with tf.control_dependencies([check] if check is not None else []):
            y_pred = self(x, training=False)
            losses = self.step_losses(y, y_pred, sample_weight)
            total, _ = self.weighted_total(losses, training=False)
        logs = self._record_step(x, y, y_pred, sample_weight, losses, None, total)
        # Weights are a training quantity: keep them out of evaluation logs.
        weight_keys = self._trackers.weight_log_keys
        logs = {k: v for k, v in logs.items() if k not in weight_keys}
        return self._multi_worker_logs(logs)

    def _record_step(self, x, y, y_pred, sample_weight, losses, weights, total):
        """Records a training or evaluation step in the logs; returns them.

        The per-task losses and (training) weights, the optimized `loss`, and
        the task metrics, which read the labels and masks the losses were
        computed from.
        """
        self._trackers.record(losses, weights)
        self.track_total_loss(internals.unscale_loss_for_distribution(total),
                              tf.shape(tf.nest.flatten(x)[0])[0])
        self._trackers.update_task_metrics(self._label_dict(y), y_pred, sample_weight, losses)
        return self.get_metrics_result()

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
        # `fit` evaluates its (already checked) validation data every epoch:
        # checking it again would rebuild the dataset and its iterator each time.
        if not internals.is_fit_validation_call(kwargs):
            x = validation.check_data(self, x, y, "x", kwargs.get("sample_weight"))
        with validation.readable_data_errors():
            return super().evaluate(x, y, *args, **kwargs)


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


__all__ = [
    "MultiTaskTrainer",
]
