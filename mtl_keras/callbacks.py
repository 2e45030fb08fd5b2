"""Callbacks: the task weights and per-task losses of a run, written to TensorBoard."""

from __future__ import annotations

import os

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="mtl_keras")
class TaskWeightLogger(keras.callbacks.Callback):
    """Writes each task's weight and losses to TensorBoard at the end of every epoch.

    For every task of the `MultiTaskModel` being trained it writes the scalars
    `task_weight/<task>` (the mean weight the strategy used over the epoch),
    `task_loss/<task>` (the mean training loss) and, when validation runs,
    `val_task_loss/<task>`, with the epoch as step, under `log_dir/train`.
    Use it next to `keras.callbacks.TensorBoard` (which logs the total loss
    and metrics) or on its own. Under a multi-worker strategy only the chief
    (task index 0) writes.

    Args:
        log_dir: Directory of the TensorBoard event files.

    Example:

    >>> import keras, numpy as np, tempfile, mtl_keras as mtl
    >>> tasks = [mtl.Task("a", "binary"), mtl.Task("b", "regression")]
    >>> model = mtl.build_hard_sharing(keras.Input((3,)), mtl.backbones.mlp([8]), tasks)
    >>> model.compile(optimizer="adam", weighting="uncertainty")
    >>> x, y = np.zeros((8, 3)), {"a": np.zeros(8), "b": np.zeros(8)}
    >>> log_dir = tempfile.mkdtemp()
    >>> _ = model.fit(x, y, epochs=2, verbose=0,
    ...               callbacks=[mtl.callbacks.TaskWeightLogger(log_dir)])
    """

    def __init__(self, log_dir: str):
        super().__init__()
        if not isinstance(log_dir, (str, os.PathLike)) or not str(log_dir):
            raise ValueError(f"Expected log_dir to be a path. Received: log_dir={log_dir!r}")
        self.log_dir = str(log_dir)
        self._writer = None

    def _task_names(self):
        names = getattr(self.model, "task_names", None)
        if names is None:
            raise ValueError(
                "Expected TaskWeightLogger to be used with a `mtl_keras.MultiTaskModel`. "
                f"Received a model of type {type(self.model).__name__}"
            )
        return names

    def on_train_begin(self, logs=None):
        self._task_names()
        if _is_chief():
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "train"))

    def on_epoch_end(self, epoch, logs=None):
        if self._writer is None:
            return
        logs = logs or {}
        with self._writer.as_default():
            for name in self._task_names():
                for tag, key in (("task_weight", f"{name}_weight"),
                                 ("task_loss", f"{name}_loss"),
                                 ("val_task_loss", f"val_{name}_loss")):
                    if key in logs:
                        tf.summary.scalar(f"{tag}/{name}", float(logs[key]), step=epoch)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def get_config(self):
        return {"log_dir": self.log_dir}


def _is_chief() -> bool:
    # MultiWorkerMirroredStrategy: only the chief should write summaries.
    return bool(getattr(tf.distribute.get_strategy().extended, "should_save_summary", True))


__all__ = [
    "TaskWeightLogger",
]
