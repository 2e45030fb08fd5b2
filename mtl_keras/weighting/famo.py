"""Fast Adaptive Multitask Optimization (FAMO).

Liu, Liang, Stone & Liu, "FAMO: Fast Adaptive Multitask Optimization",
NeurIPS 2023.
"""

from __future__ import annotations

import keras
from keras import ops

from mtl_keras.weighting.base import LossWeighting
from mtl_keras.weighting.gls import _positive


@keras.saving.register_keras_serializable(package="mtl_keras")
class FAMO(LossWeighting):
    """Balances the rates at which task losses fall, at O(1) cost per step (Liu et al., NeurIPS 2023).

    FAMO keeps logits `xi` and task weights `z = softmax(xi)`. A step follows
    the gradient of `sum_t z_t log L_t / c`, with `c = sum_t z_t / L_t`:

        w_t = (z_t / L_t) / sum_i (z_i / L_i),     L = sum_t w_t L_t   (same gradient)

    and after the step the logits move towards tasks whose log-loss fell
    less. With `delta_t = log L_t(before) - log L_t(after)`:

        g  = J_softmax(xi)^T delta = z * (delta - z . delta) + gamma * xi
        xi <- Adam(xi, g, learning_rate)

    Loss after the step. The paper's code evaluates the same batch again
    after the update, which costs another forward pass. Inside `model.fit`
    this class instead takes "after" from the *next* training step: at step
    `k` it updates `xi` with `delta = log L^(k-1) - log L^(k)` (the previous
    step's losses, stored in a variable, against this step's, computed with
    the parameters that the previous update produced), then computes this
    step's weights. So the update lags one step and `delta` also holds the
    change of batch; no extra forward pass is needed. Steps where a task has
    no label do not update its stored loss and give it `delta_t = 0`; a step
    where no task has a usable `delta` leaves all state unchanged.

    All state (`xi`, Adam's moments and step count, the previous losses) is
    in variables of this layer, saved and restored with the model.

    Args:
        learning_rate: Adam step size of the logits (> 0; 0.025 in the paper).
        gamma: Weight decay of the logits (>= 0; 0.001 in the paper).
        epsilon: Added to the losses before logs and divisions (> 0).

    Raises:
        ValueError: For a hyperparameter out of range.

    Example:

    >>> import mtl_keras as mtl
    >>> w = mtl.weighting.FAMO()
    >>> w.build_for_tasks(["a", "b"])
    >>> total, weights = w.combine([1.0, 4.0], [1.0, 4.0], [1.0, 1.0], True)
    >>> [round(float(v), 4) for v in weights]   # z = (0.5, 0.5), c = 1 / 0.625
    [0.8, 0.2]
    """

    def __init__(
        self,
        learning_rate: float = 0.025,
        gamma: float = 0.001,
        epsilon: float = 1e-8,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.learning_rate = _positive(learning_rate, "learning_rate")
        gamma = float(gamma)
        if not 0.0 <= gamma < float("inf"):
            raise ValueError(f"Expected gamma to be finite and >= 0. Received: gamma={gamma!r}")
        self.gamma = gamma
        self.epsilon = _positive(epsilon, "epsilon")

    def build(self, input_shape=None):
        n = self.num_tasks

        def state(name, shape=(n,)):
            return self.add_weight(
                shape=shape, initializer="zeros", trainable=False, dtype="float32",
                aggregation="only_first_replica", name=name,
            )

        self.logits = state("logits")
        self.previous_losses = state("previous_losses")
        self.previous_present = state("previous_present")
        self.adam_m = state("adam_m")
        self.adam_v = state("adam_v")
        self.adam_steps = state("adam_steps", ())

    def _update_logits(self, losses, present):
        beta_1, beta_2, adam_eps = 0.9, 0.999, 1e-8
        usable = present * self.previous_present
        delta = usable * (
            ops.log(self.previous_losses + self.epsilon) - ops.log(losses + self.epsilon)
        )
        z = ops.softmax(self.logits)
        grad = z * (delta - ops.sum(z * delta)) + self.gamma * self.logits
        any_usable = ops.sum(usable) > 0
        steps = self.adam_steps + 1.0
        m = beta_1 * self.adam_m + (1.0 - beta_1) * grad
        v = beta_2 * self.adam_v + (1.0 - beta_2) * ops.square(grad)
        m_hat = m / (1.0 - ops.power(beta_1, steps))
        v_hat = v / (1.0 - ops.power(beta_2, steps))
        logits = self.logits - self.learning_rate * m_hat / (ops.sqrt(v_hat) + adam_eps)
        self.logits.assign(ops.where(any_usable, logits, self.logits))
        self.adam_m.assign(ops.where(any_usable, m, self.adam_m))
        self.adam_v.assign(ops.where(any_usable, v, self.adam_v))
        self.adam_steps.assign(ops.where(any_usable, steps, self.adam_steps))
        self.previous_losses.assign(ops.where(present > 0, losses, self.previous_losses))
        self.previous_present.assign(present)

    def compute_weights(self, global_losses, present, training):
        losses = ops.maximum(ops.cast(ops.convert_to_tensor(global_losses), "float32"), 0.0)
        present = ops.cast(ops.convert_to_tensor(present), "float32")
        if training:
            self._update_logits(losses, present)
        z = ops.softmax(self.logits) * present
        ratio = z / (losses + self.epsilon)
        return ratio / ops.maximum(ops.sum(ratio), 1e-12)

    def get_config(self):
        config = super().get_config()
        config.update({
            "learning_rate": self.learning_rate,
            "gamma": self.gamma,
            "epsilon": self.epsilon,
        })
        return config
