"""`TaskAffinity`: inter-task affinity measured during training (Fifty et al., NeurIPS 2021).

Fifty, Amid, Zhao, Yu, Anil & Finn, "Efficiently Identifying Task Groupings
for Multi-Task Learning", NeurIPS 2021.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from mtl_keras._validators import check_int, check_number
from mtl_keras.affinity.measures import (
    check_jit_compile,
    check_shared_trunk,
    lookahead_affinity,
)
from mtl_keras.affinity.probe import StepProbe
from mtl_keras.affinity.result import AffinityResult
from mtl_keras.metrics import TaskMeans

__all__ = ["TaskAffinity", "measure_affinity"]


@keras.saving.register_keras_serializable(package="mtl_keras")
class TaskAffinity(StepProbe):
    """Measures the inter-task affinity of a `MultiTaskModel` while it trains.

    Every `every_n_steps` training steps, before the step's update, the
    trunk's trainable variables take, for each task `i`, a look-ahead SGD
    step on task `i`'s loss alone, and for every task `j` the callback
    records `Z[i, j] = 1 - L_j(after) / L_j(before)` on the same batch (see
    `mtl_keras.affinity.lookahead_affinity`). Nothing is assigned, so
    training is exactly what it would be without the callback (bit for bit).
    A pair is measured on a step when both tasks have labels in the batch;
    the averages are over the measured steps only.

    Logs: at the end of every epoch, `affinity/<i>_to_<j>` for every pair
    (diagonal included): the average since the start of training (NaN while
    a pair has not been measured). They go to `History` and to any
    `keras.callbacks.TensorBoard` listed *after* this callback. `result()`
    returns the matrix (an `AffinityResult`, with groupings and plots).

    "Shared parameters" are the trunk's trainable variables: the model needs
    at least two tasks and a trunk variable shared by two of them (hard
    sharing, cross-stitch, MMoE, PLE, grouped sharing), checked when training
    starts. Works under `tf.distribute.MirroredStrategy` (each replica adds
    its share of the global batch's losses and gradients).

    Cost: on a measured step one vectorised jacobian (the `T` per-task
    trunk gradients) and one vectorised forward pass of the `T` look-ahead
    trunks; other steps run the model's unchanged train function. See
    BENCHMARKS.md ("Task affinity overhead").

    Args:
        every_n_steps: Measure every this many steps (>= 1); the first step
            is measured.
        learning_rate: Look-ahead SGD step size (> 0). Default (None): the
            learning rate the optimizer uses at that step. `Z` grows roughly
            in proportion to it, so compare matrices measured with the same
            step size.
        jit_compile: Compile the measurement with XLA: True, False or
            `"auto"` (default: when every layer supports XLA and, without a
            GPU, none is a convolution). Compiling costs a few seconds once per
            `fit` and makes each measurement about twice as fast on CPU; runs
            on several replicas are never compiled.

    Raises:
        ValueError: `every_n_steps < 1` or a bad learning rate (at
            construction); when training starts, a model that is not a
            `MultiTaskModel`, has fewer than two tasks, shares no trunk
            variable, or was compiled with `steps_per_execution != 1`.

    Example:

    >>> import keras, numpy as np, mtl_keras as mtl
    >>> tasks = [mtl.Task("a", "regression"), mtl.Task("b", "binary")]
    >>> model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]), tasks)
    >>> model.compile(optimizer=keras.optimizers.SGD(0.05))
    >>> x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    >>> y = {"a": x[:, 0], "b": (x[:, 1] > 0).astype("int32")}
    >>> affinity = mtl.affinity.TaskAffinity(every_n_steps=2)
    >>> history = model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[affinity])
    >>> "affinity/a_to_b" in history.history
    True
    >>> affinity.result().counts.tolist()   # 4 steps per epoch, every 2nd measured
    [[4, 4], [4, 4]]
    """

    def __init__(self, every_n_steps: int = 10, learning_rate: float | None = None,
                 jit_compile: bool | str = "auto"):
        super().__init__(every_n_steps)
        self.learning_rate = check_number(learning_rate, "learning_rate", min_value=0,
                                          min_exclusive=True, allow_none=True)
        self.jit_compile = check_jit_compile(jit_compile)
        self._means = None
        self._task_names = None
        self._replicas = 1

    def check_model(self, model) -> None:
        check_shared_trunk(model, "TaskAffinity")

    def build_state(self, model) -> None:
        names = list(model.task_names)
        self._task_names = names
        self._replicas = model.distribute_strategy.num_replicas_in_sync
        self._means = TaskMeans([f"{i}_to_{j}" for i in names for j in names], suffix="",
                                name="task_affinity")

    def reset_state(self) -> None:
        self._means.reset_state()

    def measure(self, model, x, y, sample_weight):
        z = lookahead_affinity(model, x, y, sample_weight, self.learning_rate, self.jit_compile)
        self._means.update_state(tf.reshape(z.values * z.measured, [-1]),
                                 tf.reshape(z.measured, [-1]))
        return z

    def result(self, history=None) -> AffinityResult:
        """The affinities averaged over the measured steps so far (this or the last `fit`).

        Raises:
            ValueError: Before any training with this callback.
        """
        if self._means is None:
            raise ValueError("Expected TaskAffinity to have been used in `fit`. Received: a "
                             "callback that has not trained yet.")
        n = len(self._task_names)
        totals = np.asarray(self._means.total.numpy(), np.float64).reshape(n, n)
        counts = np.asarray(self._means.count.numpy(), np.float64).reshape(n, n)
        # Every replica adds the same global value: divide the replica copies out.
        return AffinityResult.from_measures(self._task_names, totals / self._replicas,
                                            counts / self._replicas, self.learning_rate,
                                            history)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        result = self.result()
        for i, source in enumerate(result.task_names):
            for j, target in enumerate(result.task_names):
                logs[f"affinity/{source}_to_{target}"] = float(result.matrix[i, j])

    def get_config(self):
        config = super().get_config()
        config["learning_rate"] = self.learning_rate
        config["jit_compile"] = self.jit_compile
        return config


def measure_affinity(model, x=None, y=None, *, epochs: int = 1, every_n_steps: int = 10,
                     learning_rate: float | None = None, jit_compile: bool | str = "auto",
                     callbacks=None, verbose="auto", **fit_kwargs) -> AffinityResult:
    """Trains a compiled `MultiTaskModel` with a `TaskAffinity` callback; returns its result.

    A short run of a few epochs is what Fifty et al. recommend: the
    affinities settle early in training. The model is trained in place
    (build a fresh one to train the chosen grouping afterwards).

    Args:
        model: A compiled `mtl_keras.MultiTaskModel` with a shared trunk.
        x, y: Training data, as `model.fit` takes them (a `tf.data.Dataset`
            of `(features, labels)`, or arrays and a label dict).
        epochs: Number of epochs (>= 1).
        every_n_steps, learning_rate, jit_compile: The `TaskAffinity` arguments.
        callbacks: Further callbacks (after the `TaskAffinity` one).
        verbose: As in `model.fit`.
        **fit_kwargs: Other `model.fit` arguments (`batch_size`,
            `validation_data`, `steps_per_epoch`, ...).

    Returns:
        The `AffinityResult`, with the run's `History.history` attached.

    Raises:
        ValueError: Bad `epochs` / `every_n_steps` / `learning_rate`, or
            (before the first step) a model `TaskAffinity` cannot measure.

    Example:

    >>> import keras, numpy as np, mtl_keras as mtl
    >>> tasks = [mtl.Task("a", "regression"), mtl.Task("b", "regression"),
    ...          mtl.Task("c", "regression")]
    >>> model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]), tasks)
    >>> model.compile(optimizer=keras.optimizers.SGD(0.05))
    >>> x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    >>> y = {"a": x[:, 0], "b": x[:, 0] + 0.1 * x[:, 1], "c": x[:, 2] * x[:, 3]}
    >>> result = mtl.affinity.measure_affinity(model, x, y, batch_size=16, epochs=2,
    ...                                        every_n_steps=1, verbose=0)
    >>> result.matrix.shape, len(result.history["loss"])
    ((3, 3), 2)
    >>> config = result.grouped_config(2, base={"epochs": 30})
    >>> sorted(config)
    ['architecture', 'epochs', 'groups']
    """
    epochs = check_int(epochs, "epochs", min_value=1)
    affinity = TaskAffinity(every_n_steps=every_n_steps, learning_rate=learning_rate,
                            jit_compile=jit_compile)
    history = model.fit(x, y, epochs=epochs, callbacks=[affinity] + list(callbacks or []),
                        verbose=verbose, **fit_kwargs)
    return affinity.result(history=dict(history.history))
