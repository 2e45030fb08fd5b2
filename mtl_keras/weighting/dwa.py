"""Dynamic Weight Average (DWA).

Liu, Johns & Davison, "End-to-End Multi-Task Learning with Attention",
CVPR 2019.
"""

from __future__ import annotations

import keras
from keras import ops

from mtl_keras._validators import check_number
from mtl_keras.weighting.base import LossWeighting


@keras.saving.register_keras_serializable(package="mtl_keras")
class DynamicWeightAverage(LossWeighting):
    """Weights tasks by how fast their epoch losses fall (Liu et al., CVPR 2019).

        r_t(e-1) = L_t(e-1) / L_t(e-2)
        w_t(e)   = K * exp(r_t(e-1) / T) / sum_i exp(r_i(e-1) / T)

    where `L_t(e)` is task `t`'s mean training loss over epoch `e` (the mean of
    its per-batch losses over the batches in which it had labels), `K` the
    number of tasks and `T` the temperature. Weights are 1 in the first two
    epochs. A task slower to improve gets a larger weight.

    State (saved with the model): the last two epoch losses, the running
    sums of the current epoch and the number of completed epochs. Sums grow
    in training steps only (not in `evaluate`), and only for tasks with labels
    in the batch; `on_epoch_end` (called by `MultiTaskModel.fit`) moves them into
    the history. A task without any label in an epoch keeps its last loss
    (ratio 1).

    Args:
        temperature: `T > 0`; larger is smoother (2.0 in the paper).

    Raises:
        ValueError: If `temperature <= 0`.

    Example:

    >>> import mtl_keras as mtl
    >>> w = mtl.weighting.DynamicWeightAverage(temperature=2.0)
    >>> w.build_for_tasks(["a", "b"])
    >>> for losses in ([1.0, 1.0], [0.5, 1.0]):       # two epochs, one batch each
    ...     _ = w.combine(losses, losses, [1.0, 1.0], True)
    ...     w.on_epoch_end(0)
    >>> [round(float(v), 4) for v in w.compute_weights(None, None, True)]
    [0.8756, 1.1244]
    """

    def __init__(self, temperature: float = 2.0, **kwargs):
        super().__init__(**kwargs)
        self.temperature = check_number(temperature, "temperature", min_value=0,
                                        min_exclusive=True)

    def build(self, input_shape=None):
        n = self.num_tasks

        def state(name, shape):
            return self.add_weight(
                shape=shape, initializer="zeros", trainable=False, dtype="float32",
                aggregation="only_first_replica", name=name,
            )

        self.loss_history = state("loss_history", (2, n))
        self.epoch_loss_sum = state("epoch_loss_sum", (n,))
        self.epoch_batch_count = state("epoch_batch_count", (n,))
        self.epochs_seen = state("epochs_seen", ())

    def compute_weights(self, global_losses, present, training):
        previous, last = self.loss_history[0], self.loss_history[1]
        ratios = ops.where(previous > 0, last / ops.where(previous > 0, previous, 1.0), 1.0)
        dynamic = self.num_tasks * ops.softmax(ratios / self.temperature)
        return ops.where(self.epochs_seen >= 2, dynamic, ops.ones_like(dynamic))

    def combine(self, losses, global_losses, present, training):
        total, weights = super().combine(losses, global_losses, present, training)
        if training:
            present = ops.cast(present, "float32")
            self.epoch_loss_sum.assign_add(
                ops.cast(ops.stop_gradient(global_losses), "float32") * present
            )
            self.epoch_batch_count.assign_add(present)
        return total, weights

    def on_epoch_end(self, epoch: int) -> None:
        counts = self.epoch_batch_count
        last = self.loss_history[1]
        mean = ops.where(counts > 0, self.epoch_loss_sum / ops.maximum(counts, 1.0), last)
        # Before any completed epoch the history holds zeros: start both rows at `mean`.
        previous = ops.where(self.epochs_seen > 0, last, mean)
        self.loss_history.assign(ops.stack([previous, mean]))
        self.epoch_loss_sum.assign(ops.zeros_like(counts))
        self.epoch_batch_count.assign(ops.zeros_like(counts))
        self.epochs_seen.assign_add(1.0)

    def get_config(self):
        config = super().get_config()
        config["temperature"] = self.temperature
        return config
