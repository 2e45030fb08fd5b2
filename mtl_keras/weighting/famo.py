"""Fast Adaptive Multitask Optimization (FAMO).

Liu, Liang, Stone & Liu, "FAMO: Fast Adaptive Multitask Optimization",
NeurIPS 2023.
"""

from __future__ import annotations

import keras
from keras import ops

from mtl_keras._validators import check_number
from mtl_keras.weighting.base import LossWeighting


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
    one `(6, num_tasks)` variable of this layer (read and written once per
    step), saved and restored with the model; `logits`, `previous_losses`,
    `previous_present` and `adam_steps` are read-only views of it.

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
        self.learning_rate = check_number(learning_rate, "learning_rate", min_value=0,
                                          min_exclusive=True)
        self.gamma = check_number(gamma, "gamma", min_value=0)
        self.epsilon = check_number(epsilon, "epsilon", min_value=0, min_exclusive=True)

    def build(self, input_shape=None):
        # One (6, num_tasks) variable: logits, previous losses, previous
        # presence, Adam's first and second moments and step count (row 5,
        # repeated). A step reads and writes it once.
        self.state = self.add_weight(
            shape=(len(_ROWS), self.num_tasks), initializer="zeros", trainable=False,
            dtype="float32", aggregation="only_first_replica", name="state",
        )

    def _row(self, name):
        return self.state.value[_ROWS.index(name)]

    @property
    def logits(self):
        """The logits `xi` (tensor, `(num_tasks,)`)."""
        return self._row("logits")

    @property
    def previous_losses(self):
        return self._row("previous_losses")

    @property
    def previous_present(self):
        return self._row("previous_present")

    @property
    def adam_steps(self):
        """Number of Adam updates of the logits so far (scalar tensor)."""
        return self._row("adam_steps")[0]

    def compute_weights(self, global_losses, present, training):
        losses = ops.maximum(ops.cast(ops.convert_to_tensor(global_losses), "float32"), 0.0)
        present = ops.cast(ops.convert_to_tensor(present), "float32")
        if not training:
            return _weights(self.state.value[0], losses, present, self.epsilon)
        state, weights = _train_step(self.state.value, losses, present, self.learning_rate,
                               self.gamma, self.epsilon)
        self.state.assign(state)
        return weights

    def get_config(self):
        config = super().get_config()
        config.update({
            "learning_rate": self.learning_rate,
            "gamma": self.gamma,
            "epsilon": self.epsilon,
        })
        return config


_ROWS = ("logits", "previous_losses", "previous_present", "adam_m", "adam_v", "adam_steps")


def _weights(logits, losses, present, epsilon):
    z = ops.softmax(logits) * present
    ratio = z / (losses + epsilon)
    return ratio / ops.maximum(ops.sum(ratio), 1e-12)


def _train_step(state, losses, present, learning_rate, gamma, epsilon):
    """FAMO's logit update (the class docstring) on the stacked state.

    Returns `(new_state, weights)`, the weights from the updated logits.
    """
    beta_1, beta_2, adam_eps = 0.9, 0.999, 1e-8
    logits, prev_losses, prev_present, adam_m, adam_v, steps = ops.unstack(state, axis=0)
    usable = present * prev_present
    delta = usable * (ops.log(prev_losses + epsilon) - ops.log(losses + epsilon))
    z = ops.softmax(logits)
    grad = z * (delta - ops.sum(z * delta)) + gamma * logits
    steps = steps + 1.0
    m = beta_1 * adam_m + (1.0 - beta_1) * grad
    v = beta_2 * adam_v + (1.0 - beta_2) * ops.square(grad)
    m_hat = m / (1.0 - ops.power(beta_1, steps))
    v_hat = v / (1.0 - ops.power(beta_2, steps))
    new_logits = logits - learning_rate * m_hat / (ops.sqrt(v_hat) + adam_eps)
    candidate = ops.stack([new_logits, ops.where(present > 0, losses, prev_losses), present,
                           m, v, steps])
    # Without a usable delta (no task present in both steps) the optimizer
    # rows (logits, Adam's moments and step) stay as they were; the stored
    # losses always follow the present tasks.
    skip = ops.logical_and(ops.sum(usable) <= 0.0, _OPTIMIZER_ROWS)
    new_state = ops.where(skip[:, None], state, candidate)
    return new_state, _weights(new_state[0], losses, present, epsilon)


_OPTIMIZER_ROWS = tuple(name not in ("previous_losses", "previous_present") for name in _ROWS)
