"""Nash-MTL: the Nash bargaining solution of the task gradients.

Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik and Fetaya, "Multi-Task
Learning as a Bargaining Game", ICML 2022.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from mtl_keras.weighting.gradient_common import (
    SharedGradientWeighting, as_matrix, compiled, as_present, masked_gram, validate_number,
    weighted_sum,
)


def nash_weights(k, present=None, num_steps: int = 20, ridge: float = 1e-6):
    """Solves `K alpha = 1 / alpha`, `alpha > 0` (the Nash-MTL condition).

    The condition is the stationarity condition of the strictly convex
    `f(alpha) = 1/2 alpha^T K alpha - sum_i log(alpha_i)`, which is minimised
    with `num_steps` damped Newton steps (step `1 / (1 + lambda)` while the
    Newton decrement `lambda > 1/4`, full steps after: `f` is
    self-concordant, so iterates stay positive and converge quadratically).
    `K` is first divided by its largest diagonal entry `s` (the solution is
    then `alpha / sqrt(s)`), and `ridge * I` is added so that a solution
    exists when gradients are linearly dependent (e.g. exactly opposed). This
    replaces the paper's sequence of cvxpy problems; the approximation is the
    ridge term and the fixed number of Newton steps.

    Args:
        k: `(num_tasks, num_tasks)` Gram matrix.
        present: Optional 0/1 mask; absent tasks get weight 0.
        num_steps: Newton steps.
        ridge: Relative ridge added to the normalised Gram matrix.

    Returns:
        `(num_tasks,)` weights `alpha`.
    """
    k = tf.convert_to_tensor(k, tf.float32)
    t = k.shape[0]
    present = tf.ones([t]) if present is None else tf.cast(present, tf.float32)
    active = present * tf.cast(tf.linalg.diag_part(k) > 0, tf.float32)
    s = tf.reduce_max(tf.linalg.diag_part(k) * active)
    s_safe = tf.where(s > 0, s, 1.0)
    outer = active[:, None] * active[None, :]
    kn = (k / s_safe) * outer + tf.linalg.diag(1.0 - active) + ridge * tf.eye(t)
    alpha = 1.0 / tf.sqrt(tf.linalg.diag_part(kn))

    def body(i, a):
        grad = tf.linalg.matvec(kn, a) - 1.0 / a
        hess = kn + tf.linalg.diag(1.0 / (a * a))
        step = -tf.linalg.solve(hess, grad[:, None])[:, 0]
        decrement = tf.sqrt(tf.maximum(-tf.tensordot(grad, step, 1), 0.0))
        size = tf.where(decrement > 0.25, 1.0 / (1.0 + decrement), 1.0)
        return i + 1, a + size * step

    _, alpha = tf.while_loop(lambda i, a: i < num_steps, body, (tf.constant(0), alpha))
    return alpha * active / tf.sqrt(s_safe)


def nash_mtl(grads, present=None, num_steps: int = 20, ridge: float = 1e-6):
    """Combines per-task gradients with Nash-MTL.

    `alpha` solves `G G^T alpha = 1 / alpha` (every task's utility
    `g_i . d` equals `1 / alpha_i`), and `d = sum_i alpha_i g_i` (a **sum**
    with unnormalised weights). Scale: multiplying every gradient by `s`
    divides `alpha` by `s`, so the direction does not depend on the gradient
    scale. See `nash_weights` for the solver.

    Args:
        grads: `(num_tasks, dim)` per-task gradients.
        present: Optional `(num_tasks,)` 0/1 mask; absent tasks are left out.
        num_steps: Newton steps.
        ridge: Relative ridge (see `nash_weights`).

    Returns:
        `(direction (dim,), weights (num_tasks,))`.

    Example:

    >>> d, w = nash_mtl([[1.0, 0.0], [0.0, 2.0]])
    >>> [round(float(v), 3) for v in w]
    [1.0, 0.5]
    """
    grads = as_matrix(grads)
    present = as_present(present, grads)
    alpha = _nash(masked_gram(grads, present), present, int(num_steps), float(ridge))
    return weighted_sum(alpha * present, grads), alpha


_nash = compiled(nash_weights)


@keras.saving.register_keras_serializable(package="mtl_keras")
class NashMTL(SharedGradientWeighting):
    """Nash-MTL (Navon et al., ICML 2022) as a `compile(weighting=...)` strategy.

    Weights solve the Nash bargaining condition `G G^T alpha = 1 / alpha`
    (see `nash_mtl`). As in the paper's code, the weights can be re-solved
    only every `update_weights_every` steps; in between, the last solution
    is reused (a task absent in a step gets 0 in that step; one absent when
    the weights are solved keeps 0 until the next solve). The paper's clipping of the
    update norm is left to the optimizer (`clipnorm`).

    Args:
        mode: `"parameters"` (default) or `"representation"`.
        num_steps: Newton steps of the solver.
        ridge: Relative ridge of the solver.
        update_weights_every: Solve for the weights every this many steps
            (int >= 1; 1, the default, solves every step). The weights are a
            non-trainable variable, saved with the model.

    Example:

    >>> import mtl_keras as mtl
    >>> mtl.weighting.get("nash_mtl").num_steps
    20
    """

    def __init__(self, mode: str = "parameters", num_steps: int = 20, ridge: float = 1e-6,
                 update_weights_every: int = 1, **kwargs):
        super().__init__(mode=mode, **kwargs)
        for name, value in (("num_steps", num_steps),
                            ("update_weights_every", update_weights_every)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Expected {name} to be an int >= 1. Received: {name}={value!r}")
        self.num_steps = num_steps
        self.ridge = validate_number(ridge, "ridge", 0.0, low_inclusive=False)
        self.update_weights_every = update_weights_every

    def build(self, input_shape=None):
        if self.update_weights_every > 1:
            self.step = self.add_step_counter()
            self.alpha = self.add_weight(
                shape=(self.num_tasks,), initializer="zeros", trainable=False,
                name="alpha", aggregation="only_first_replica")

    def combine_gradients(self, grads, present):
        if self.update_weights_every == 1:
            return nash_mtl(grads, present, self.num_steps, self.ridge)
        grads = as_matrix(grads)
        present = as_present(present, grads)
        step = tf.convert_to_tensor(self.step.value)  # read before the increment
        self.step.assign_add(1)
        alpha = tf.cond(
            tf.equal(step % self.update_weights_every, 0),
            lambda: _nash(masked_gram(grads, present), present, self.num_steps, self.ridge),
            lambda: self.alpha.value,
        )
        self.alpha.assign(alpha)
        alpha = alpha * present
        return weighted_sum(alpha, grads), alpha

    def get_config(self):
        config = super().get_config()
        config.update(num_steps=self.num_steps, ridge=self.ridge,
                      update_weights_every=self.update_weights_every)
        return config
