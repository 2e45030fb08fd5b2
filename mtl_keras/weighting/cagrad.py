"""CAGrad: conflict-averse gradient descent.

Liu, Liu, Jin, Stone and Liu, "Conflict-Averse Gradient Descent for Multi-task
Learning", NeurIPS 2021.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from mtl_keras.weighting.gradient_common import (
    SharedGradientWeighting, as_matrix, compiled, as_present, masked_gram, safe_sqrt,
    validate_number,
    weighted_sum,
)

RESCALES = (0, 1, 2)


def cagrad(grads, present=None, c: float = 0.4, rescale: int = 1, num_steps: int = 100):
    """Combines per-task gradients with CAGrad.

    With the mean gradient `g0` and `phi = c^2 ||g0||^2`, solve the dual
    `min_{w in simplex} g_w . g0 + sqrt(phi) ||g_w||` (`g_w = sum_i w_i g_i`)
    and follow `d = g0 + sqrt(phi) / ||g_w|| g_w`, the maximiser of the
    worst-case task improvement within a ball of radius `c ||g0||` around
    `g0`. `rescale=1` divides by `1 + c^2`, `2` by `1 + c`, `0` not at all
    (LibMTL's options). Convention: **mean** of the task gradients (`c = 0`
    returns exactly the mean). The dual is solved in the Gram matrix by
    `num_steps` steps of exponentiated-gradient (mirror) descent on the
    simplex, an approximation of the paper's inner optimiser.

    Args:
        grads: `(num_tasks, dim)` per-task gradients.
        present: Optional `(num_tasks,)` 0/1 mask; absent tasks are left out.
        c: Radius factor `>= 0`.
        rescale: 0, 1 or 2 (see above).
        num_steps: Mirror-descent steps of the dual.

    Returns:
        `(direction (dim,), weights (num_tasks,))`.

    Example:

    >>> d, w = cagrad([[1.0, 0.0], [0.0, 3.0]], c=0.0)
    >>> [round(float(v), 3) for v in d]
    [0.5, 1.5]
    """
    grads = as_matrix(grads)
    present = as_present(present, grads)
    weights = _cagrad_weights(masked_gram(grads, present), present, float(c), int(rescale),
                              int(num_steps))
    return weighted_sum(weights * present, grads), weights


@compiled
def _cagrad_weights(k, present, c, rescale, num_steps):
    n = tf.reduce_sum(present)
    base = tf.math.divide_no_nan(present, n)
    kb = tf.linalg.matvec(k, base)
    g0_norm = safe_sqrt(tf.tensordot(base, kb, 1))
    radius = c * g0_norm
    scale = tf.maximum(tf.reduce_max(tf.linalg.diag_part(k)), 1e-20)

    def objective_grad(w):
        kw = tf.linalg.matvec(k, w)
        return kb + radius * tf.math.divide_no_nan(kw, safe_sqrt(tf.tensordot(w, kw, 1)))

    def body(i, w):
        g = objective_grad(w) / scale
        lr = 2.0 / tf.sqrt(tf.cast(i, tf.float32) + 1.0)
        w = w * tf.exp(-lr * (g - tf.reduce_max(tf.where(present > 0, g, -1e30))))
        w = w * present
        return i + 1, tf.math.divide_no_nan(w, tf.reduce_sum(w))

    _, w = tf.while_loop(lambda i, w: i < num_steps, body, (tf.constant(0), base))
    gw_norm = safe_sqrt(tf.tensordot(w, tf.linalg.matvec(k, w), 1))
    lam = tf.math.divide_no_nan(radius, gw_norm)
    weights = base + lam * w
    return weights / {0: 1.0, 1: 1.0 + c * c, 2: 1.0 + c}[rescale]


@keras.saving.register_keras_serializable(package="mtl_keras")
class CAGrad(SharedGradientWeighting):
    """CAGrad (Liu et al., NeurIPS 2021) as a `compile(weighting=...)` strategy.

    Follows the direction that maximises the worst task's improvement within
    a ball around the mean gradient (see `cagrad`).

    Args:
        mode: `"parameters"` (default) or `"representation"`.
        c: Radius factor `>= 0` (paper: 0.4 on NYUv2, 0.5 on multi-fashion).
        rescale: 0, 1 (default, divide by `1 + c^2`) or 2 (divide by `1 + c`).
        num_steps: Steps of the inner dual solver.

    Example:

    >>> import mtl_keras as mtl
    >>> mtl.weighting.CAGrad(c=0.5).get_config()["c"]
    0.5
    """

    def __init__(self, mode: str = "parameters", c: float = 0.4, rescale: int = 1,
                 num_steps: int = 100, **kwargs):
        super().__init__(mode=mode, **kwargs)
        self.c = validate_number(c, "c", 0.0)
        if rescale not in RESCALES:
            raise ValueError(f"Expected rescale in {list(RESCALES)}. Received: rescale={rescale!r}")
        if not isinstance(num_steps, int) or num_steps < 1:
            raise ValueError(f"Expected num_steps to be an int >= 1. Received: num_steps={num_steps!r}")
        self.rescale = rescale
        self.num_steps = num_steps

    def combine_gradients(self, grads, present):
        return cagrad(grads, present, self.c, self.rescale, self.num_steps)

    def get_config(self):
        config = super().get_config()
        config.update(c=self.c, rescale=self.rescale, num_steps=self.num_steps)
        return config
