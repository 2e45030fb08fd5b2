"""Nash-MTL: the Nash bargaining solution of the task gradients.

Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik and Fetaya, "Multi-Task
Learning as a Bargaining Game", ICML 2022.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from mtl_keras._validators import check_int, check_number
from mtl_keras.weighting.base import SharedGradientWeighting
from mtl_keras.weighting.gradient_common import compiled
from mtl_keras.weighting.numerics import (
    as_float, as_int, finish, prepare, scale_pow2, warn_if_unconverged,
)
from mtl_keras.weighting.solvers import small_solve


def _nash_solve(k, present, num_steps, ridge, tol):
    """Damped Newton on `f(a) = 1/2 a^T K a - sum log a` for a normalised `K`.

    Returns `(alpha, converged)`; see `nash_weights`. The `T x T` solve runs
    in float64: when no direction improves every task (0 in the convex hull)
    the regularised solution has weights of order `1 / sqrt(ridge)` and
    `K alpha` cancels to `ridge`-sized values, below float32's resolution.
    """
    t = k.shape[0]
    k = tf.cast(k, tf.float64)
    present = tf.cast(present, tf.float64)
    ridge = tf.cast(ridge, tf.float64)
    tol = tf.cast(tol, tf.float64)
    active = present * tf.cast(tf.linalg.diag_part(k) > 0, tf.float64)
    s = tf.reduce_max(tf.linalg.diag_part(k) * active)
    s_safe = tf.where(s > 0, s, 1.0)
    outer = active[:, None] * active[None, :]
    kn = (k / s_safe) * outer
    # Ridge relative to each task's own squared norm (so a small task next to
    # a huge one is not swamped by it); identity rows for inactive tasks.
    kn = kn + tf.linalg.diag(ridge * tf.linalg.diag_part(kn) + (1.0 - active))
    # Start: 1 / ||g_i||, scaled along the ray to the minimum of f there
    # (f(c a) is smallest at c^2 = n / a^T K a; at the solution a^T K a = n).
    n = tf.reduce_sum(active)

    def along_ray(a):
        a = a * tf.sqrt(tf.math.divide_no_nan(
            n, tf.tensordot(a * active, tf.linalg.matvec(kn, a * active), 1)))
        return tf.where(active > 0, a, tf.ones_like(a))

    alpha = along_ray(1.0 / tf.sqrt(tf.linalg.diag_part(kn)))

    def residual(a):
        return tf.reduce_max(tf.abs(a * tf.linalg.matvec(kn, a) - 1.0) * active)

    def body(i, a, res):
        grad = tf.linalg.matvec(kn, a) - 1.0 / a
        hess = kn + tf.linalg.diag(1.0 / (a * a))
        step = -small_solve(hess, grad[:, None])[:, 0]
        decrement = tf.sqrt(tf.maximum(-tf.tensordot(grad, step, 1), 0.0))
        size = tf.where(decrement > 0.25, 1.0 / (1.0 + decrement), 1.0)
        # Then the exact minimum along the new iterate's ray: it only lowers
        # f, and takes the scale to 1 / sqrt(ridge) at once when no
        # direction improves every task (no solution without the ridge).
        new = along_ray(a + size * step)
        new = tf.where(tf.reduce_all(tf.math.is_finite(new)), new, a)
        return i + 1, new, residual(new)

    def cond(i, a, res):
        return tf.logical_and(i < num_steps, res > tol)

    _, alpha, res = tf.while_loop(cond, body, (tf.constant(0), alpha, residual(alpha)))
    return tf.cast(alpha * active / tf.sqrt(s_safe), tf.float32), res <= tol


_nash = compiled(_nash_solve)


def nash_weights(k, present=None, num_steps: int = 20, ridge: float = 1e-6,
                 tol: float = 1e-5):
    """Solves `K alpha = 1 / alpha`, `alpha > 0` (the Nash-MTL condition).

    The condition is the stationarity condition of the strictly convex
    `f(alpha) = 1/2 alpha^T K alpha - sum_i log(alpha_i)`, which is minimised
    with damped Newton steps (step `1 / (1 + lambda)` while the Newton
    decrement `lambda > 1/4`, full steps after: `f` is self-concordant, so
    iterates stay positive and converge quadratically). `K` is first divided
    by its largest diagonal entry `s` (the solution is then
    `alpha / sqrt(s)`), and `ridge * diag(K)` is added (a ridge relative to
    each task's squared norm) so that a solution exists when gradients are
    linearly dependent (e.g. exactly opposed). This replaces the paper's
    sequence of cvxpy problems.

    Accuracy: it stops when every task's utility matches its weight,
    `max_i |alpha_i (K' alpha)_i - 1| <= tol` for the regularised
    `K' = (K + ridge diag(K)) / s` (default 1e-5, reached in a few steps on
    the tested matrices), or after `num_steps` steps. The ridge changes the
    solution of the exact condition by about `ridge / lambda_min(C)`
    relative (`C` the cosine matrix; tested: within 1e-4 of a float64
    solution of the exact condition on well-conditioned matrices). The
    Newton iterations run in float64 (on the `T x T` matrix only). When no
    direction improves every task (0 in the convex hull of the gradients,
    e.g. two opposed tasks) the exact condition has no solution; the ridge
    then decides: weights of order `1 / sqrt(ridge)` (about 1000 by
    default) whose combination cancels the conflicting part, e.g. equal
    weights and `d = 0` for two opposed gradients.

    Args:
        k: `(num_tasks, num_tasks)` Gram matrix.
        present: Optional 0/1 mask; absent tasks get weight 0.
        num_steps: Newton step cap.
        ridge: Ridge relative to each task's squared gradient norm.
        tol: Residual at which the solver stops.

    Returns:
        `(num_tasks,)` weights `alpha`.

    Example:

    >>> [round(float(a), 3) for a in nash_weights([[4.0, 0.0], [0.0, 1.0]])]
    [0.5, 1.0]
    """
    k = tf.convert_to_tensor(k, tf.float32)
    present = tf.ones([k.shape[0]]) if present is None else tf.cast(present, tf.float32)
    return _nash(k, present, as_int(num_steps), as_float(ridge), as_float(tol))[0]


def nash_mtl(grads, present=None, num_steps: int = 20, ridge: float = 1e-6,
             tol: float = 1e-5):
    """Combines per-task gradients with Nash-MTL.

    `alpha` solves `G G^T alpha = 1 / alpha` (every task's utility
    `g_i . d` equals `1 / alpha_i`), and `d = sum_i alpha_i g_i` (a **sum**
    with unnormalised weights). See `nash_weights` for the solver and its
    accuracy.

    Scale convention (the paper's): the rule is **invariant**. Multiplying
    every gradient by `s` divides `alpha` by `s`, so the direction does not
    depend on the gradient scale (`nash_mtl(s G) = nash_mtl(G)`, exactly
    for powers of two: the Gram matrix is normalised by a power of two
    before the solve). The update's size is set by the optimizer's learning
    rate (and the paper clips its norm, see `NashMTL`).

    Args:
        grads: `(num_tasks, dim)` per-task gradients.
        present: Optional `(num_tasks,)` 0/1 mask; absent tasks are left out.
        num_steps: Newton step cap (never reached in the tests; eagerly, a
            `RuntimeWarning` says when it is).
        ridge: Relative ridge (see `nash_weights`).
        tol: Residual at which the Newton solver stops.

    Returns:
        `(direction (dim,), weights (num_tasks,))`.

    Raises:
        ValueError: For a malformed matrix or mask or (eagerly) NaN or inf in
            a present row; in a graph such input gives the zero update.

    Example:

    >>> d, w = nash_mtl([[1.0, 0.0], [0.0, 2.0]])
    >>> [round(float(v), 3) for v in w]
    [1.0, 0.5]
    """
    prep = prepare(grads, present, "nash_mtl")
    alpha, converged = _nash_alpha(prep, num_steps, ridge, tol)
    warn_if_unconverged(converged, "nash_mtl", f"num_steps={num_steps}")
    return finish(alpha, prep)


def _nash_alpha(prep, num_steps, ridge, tol):
    """Weights for the original gradients: alpha of the normalised Gram / 2^p."""
    alpha, converged = _nash(prep.k, prep.present, as_int(num_steps), as_float(ridge),
                             as_float(tol))
    return scale_pow2(alpha, -prep.log2_scale), converged


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
        num_steps: Newton step cap of the solver (it stops earlier on its
            residual certificate, see `nash_weights`).
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
        self.num_steps = check_int(num_steps, "num_steps", min_value=1)
        self.ridge = check_number(ridge, "ridge", min_value=0, min_exclusive=True)
        self.update_weights_every = check_int(update_weights_every, "update_weights_every",
                                              min_value=1)

    def build(self, input_shape=None):
        if self.update_weights_every > 1:
            self.step = self.add_step_counter()
            self.alpha = self.add_weight(
                shape=(self.num_tasks,), initializer="zeros", trainable=False,
                name="alpha", aggregation="only_first_replica")

    def combine_gradients(self, grads, present, losses=None):
        if self.update_weights_every == 1:
            return nash_mtl(grads, present, self.num_steps, self.ridge)
        prep = prepare(grads, present, "nash_mtl")
        step = tf.convert_to_tensor(self.step.value)  # read before the increment
        self.step.assign_add(1)
        previous = self.alpha.value
        alpha = tf.cond(
            tf.equal(step % self.update_weights_every, 0),
            lambda: _nash_alpha(prep, self.num_steps, self.ridge, 1e-5)[0],
            lambda: previous,
        )
        # Non-finite input (graphs only): keep the saved weights.
        self.alpha.assign(tf.where(prep.finite, alpha, previous))
        return finish(alpha, prep)

    def get_config(self):
        config = super().get_config()
        config.update(num_steps=self.num_steps, ridge=self.ridge,
                      update_weights_every=self.update_weights_every)
        return config
