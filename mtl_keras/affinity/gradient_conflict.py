"""`GradientConflict`: per-epoch statistics of the cosine similarity of task gradients.

Conflicting gradients (negative cosine) are the symptom the gradient
surgery methods treat: Yu et al., "Gradient Surgery for Multi-Task
Learning" (PCGrad), NeurIPS 2020; the representation-gradient view is the
one of Sener & Koltun, "Multi-Task Learning as Multi-Objective
Optimization" (MGDA-UB), NeurIPS 2018.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from mtl_keras._validators import check_choice
from mtl_keras.affinity.measures import (
    MODES,
    check_jit_compile,
    check_mode,
    check_shared_trunk,
    gradient_cosines,
)
from mtl_keras.affinity.probe import StepProbe
from mtl_keras.metrics import TaskMeans

__all__ = ["GradientConflict", "conflict_keys"]


def conflict_keys(task_names) -> list[tuple[str, str, str, str]]:
    """`(task_i, task_j, cosine key, conflict key)` for every pair `i < j`, in task order."""
    names = list(task_names)
    return [(a, b, f"grad_cosine/{a}_vs_{b}", f"grad_conflict/{a}_vs_{b}")
            for k, a in enumerate(names) for b in names[k + 1:]]


@keras.saving.register_keras_serializable(package="mtl_keras")
class GradientConflict(StepProbe):
    """Logs, per epoch, how aligned the tasks' gradients are, pair by pair.

    Every `every_n_steps` training steps, before the update, the callback
    computes each task's gradient on the batch and their pairwise cosine
    similarities (see `mtl_keras.affinity.gradient_cosines`); nothing is
    assigned, so training is unchanged. At the end of each epoch it adds to
    the logs, for every pair of tasks `i < j` (in task order):

    * `grad_cosine/<i>_vs_<j>`: the mean cosine over the epoch's measured steps;
    * `grad_conflict/<i>_vs_<j>`: the fraction of them with a negative cosine.

    A pair is measured on a step when both tasks have labels in the batch
    (and a non-zero gradient); NaN for a pair not measured in the epoch.
    The logs reach `History` (like `<task>_weight`) and any
    `keras.callbacks.TensorBoard` listed after this callback;
    `mtl_keras.plotting.plot_gradient_conflict` draws them.

    Args:
        every_n_steps: Measure every this many steps (>= 1).
        mode: `"representation"` (default): gradients w.r.t. the shared
            representation, cheap (one extra forward pass and one backward
            pass through the heads); hard sharing only. `"parameters"`:
            w.r.t. the trunk's trainable variables (one vectorised jacobian),
            for every architecture that shares trunk variables.
        jit_compile: Compile the measurement with XLA: True, False or
            `"auto"` (default), as for `TaskAffinity`.

    Raises:
        ValueError: `every_n_steps < 1` or an unknown mode (at construction);
            when training starts, a model that is not a `MultiTaskModel`, has
            fewer than two tasks, shares no trunk variable, does not fit the
            mode, or was compiled with `steps_per_execution != 1`.

    Example:

    >>> import keras, numpy as np, mtl_keras as mtl
    >>> tasks = [mtl.Task("a", "regression"), mtl.Task("b", "regression")]
    >>> model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]), tasks)
    >>> model.compile(optimizer="sgd")
    >>> x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    >>> y = {"a": x[:, 0], "b": -x[:, 0]}
    >>> history = model.fit(x, y, batch_size=8, epochs=1, verbose=0,
    ...                     callbacks=[mtl.affinity.GradientConflict(every_n_steps=1)])
    >>> sorted(k for k in history.history if k.startswith("grad_"))
    ['grad_conflict/a_vs_b', 'grad_cosine/a_vs_b']
    """

    def __init__(self, every_n_steps: int = 1, mode: str = "representation",
                 jit_compile: bool | str = "auto"):
        super().__init__(every_n_steps)
        self.mode = check_choice(mode, "mode", MODES)
        self.jit_compile = check_jit_compile(jit_compile)
        self._cosines = None
        self._conflicts = None
        self._keys = None
        self._pairs = None

    def check_model(self, model) -> None:
        check_shared_trunk(model, "GradientConflict")
        check_mode(self.mode, model)

    def build_state(self, model) -> None:
        names = list(model.task_names)
        self._keys = conflict_keys(names)
        self._pairs = [(names.index(a), names.index(b)) for a, b, _, _ in self._keys]
        pair_names = [f"{a}_vs_{b}" for a, b, _, _ in self._keys]
        self._cosines = TaskMeans(pair_names, suffix="", name="grad_cosine")
        self._conflicts = TaskMeans(pair_names, suffix="", name="grad_conflict")

    def measure(self, model, x, y, sample_weight):
        cos = gradient_cosines(model, x, y, sample_weight, mode=self.mode,
                               jit_compile=self.jit_compile)
        index = tf.constant(self._pairs, tf.int32)
        values = tf.gather_nd(cos.values, index)
        measured = tf.gather_nd(cos.measured, index)
        self._cosines.update_state(values * measured, measured)
        self._conflicts.update_state(tf.cast(values < 0, tf.float32) * measured, measured)
        return cos

    def reset_state(self) -> None:
        self._cosines.reset_state()
        self._conflicts.reset_state()

    def on_epoch_begin(self, epoch, logs=None):
        if self._cosines is not None:
            self.reset_state()

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or self._cosines is None:
            return
        cos = _means(self._cosines)
        conflict = _means(self._conflicts)
        for (_, _, cos_key, conflict_key), c, f in zip(self._keys, cos, conflict):
            logs[cos_key] = c
            logs[conflict_key] = f

    def get_config(self):
        config = super().get_config()
        config["mode"] = self.mode
        config["jit_compile"] = self.jit_compile
        return config


def _means(metric) -> list[float]:
    total = np.asarray(metric.total.numpy(), np.float64)
    count = np.asarray(metric.count.numpy(), np.float64)
    return [float(t / c) if c > 0 else float("nan") for t, c in zip(total, count)]
