"""CAGrad: conflict-averse gradient descent.

Liu, Liu, Jin, Stone and Liu, "Conflict-Averse Gradient Descent for Multi-task
Learning", NeurIPS 2021.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from mtl_keras._validators import check_choice, check_int, check_number
from mtl_keras.weighting.base import SharedGradientWeighting
from mtl_keras.weighting.gradient_common import compiled
from mtl_keras.weighting.numerics import (
    EPS32, as_float, as_int, finish, prepare, warn_if_unconverged,
)
from mtl_keras.weighting.solvers import (
    bordered_solve, lower_bounded_qp, min_norm_start, wolfe_min_norm,
)

RESCALES = (0, 1, 2)


def cagrad(grads, present=None, c: float = 0.4, rescale: int = 1, num_steps: int = 100,
           tol: float = 1e-4):
    """Combines per-task gradients with CAGrad.

    The paper's direction maximises the worst task's improvement in a ball
    around the mean gradient `g0`:
    `d* = argmax_{||d - g0|| <= r} min_i g_i . d`, `r = c ||g0||`. By
    duality, `d* = g0 + r g_w / ||g_w||` where `g_w = sum_i w_i g_i` and `w`
    minimises `F(w) = g_w . g0 + r ||g_w||` over the simplex. `rescale=1`
    divides `d*` by `1 + c^2`, `2` by `1 + c`, `0` not at all (LibMTL's
    options). Convention: **mean** of the task gradients (`c = 0` returns
    exactly the mean).

    Solver (in place of the paper's 20 SGD steps on the dual): for `tau > 0`
    let `D(tau)` be the min-norm point of the convex hull of the points
    `g0 + tau g_i` (an MGDA problem, solved exactly by Wolfe's algorithm).
    `D(tau) = g0 + tau g_w(tau)`, and its distance to `g0` grows with `tau`;
    where it equals `r`, `D(tau) = d*`. That `tau` is found by a safeguarded
    root search whose steps solve the equation exactly on the current
    support (a quadratic), so it usually takes two or three MGDA solves.
    It stops on the duality gap: every `w` on the simplex bounds the optimum,
    `min_i g_i . d <= t* <= F(w)`, and the search stops once
    `F(w) - min_i g_i . d <= tol |F(w)|`, or the float32 rounding level of the
    products involved. When 0 is in the convex hull of the gradients and the
    ball reaches a direction that conflicts with no task (`t* = 0`, e.g.
    a task with a zero gradient), `d*` is not unique and the paper's formula
    divides by `||g_w|| = 0`; the direction returned is then the projection
    of `g0` onto the cone of non-conflicting directions `{d : G d >= 0}` (the
    limit of `D(tau)`).

    Accuracy: `min_i g_i . d >= t* - tol |t*|` up to float32 rounding
    (tested against a float64 reference at `tol = 1e-4`), and
    `||d - g0|| <= r (1 + 1e-5)` before rescaling. Scale: homogeneous of
    degree 1 (`cagrad(s G) = s cagrad(G)`, same weights), exactly for powers
    of two.

    Args:
        grads: `(num_tasks, dim)` per-task gradients.
        present: Optional `(num_tasks,)` 0/1 mask; absent tasks are left out.
        c: Radius factor `>= 0`.
        rescale: 0, 1 or 2 (see above).
        num_steps: Iteration cap of the root search (never reached in the
            tests; eagerly, a `RuntimeWarning` says when it is).
        tol: Relative duality gap at which the solver stops.

    Returns:
        `(direction (dim,), weights (num_tasks,))`.

    Raises:
        ValueError: For an invalid `c` or `rescale`, a malformed matrix or
            mask or (eagerly) NaN or inf in a present row; in a graph such
            input gives the zero update.

    Example:

    >>> d, w = cagrad([[1.0, 0.0], [0.0, 3.0]], c=0.0)
    >>> [round(float(v), 3) for v in d]
    [0.5, 1.5]
    """
    c = check_number(c, "c", min_value=0)
    check_choice(rescale, "rescale", RESCALES)
    prep = prepare(grads, present, "cagrad")
    weights, converged = _cagrad_weights(prep.k, prep.present, as_float(c), as_int(num_steps),
                                         as_float(tol))
    warn_if_unconverged(converged, "cagrad", f"num_steps={num_steps}")
    weights = weights / {0: 1.0, 1: 1.0 + c * c, 2: 1.0 + c}[rescale]
    return finish(weights, prep)


@compiled
def _cagrad_weights(k, present, c, num_steps, tol):
    t = k.shape[0]
    active = present > 0
    w0 = tf.math.divide_no_nan(present, tf.reduce_sum(present))
    b = tf.linalg.matvec(k, w0)                      # g_i . g0
    beta = tf.maximum(tf.tensordot(w0, b, 1), 0.0)    # |g0|^2
    r = c * tf.sqrt(beta)
    inf = tf.constant(float("inf"))
    norms = tf.sqrt(tf.maximum(tf.linalg.diag_part(k), 0.0))
    rhs = tf.stack([tf.zeros([t]), -b], axis=1)
    rhs_sum = tf.constant([1.0, 0.0])

    def norm_of(w):
        return tf.sqrt(tf.maximum(tf.tensordot(w, tf.linalg.matvec(k, w), 1), 0.0))

    def bound_of(w):
        """F(w) = b.w + r ||g_w||: an upper bound of t* for w on the simplex."""
        return tf.where(tf.reduce_all(w >= 0), tf.tensordot(b, w, 1) + r * norm_of(w), inf)

    def value_of(v):
        """min_i g_i . d for d = G^T v, or -inf when d is outside the ball."""
        u = v - w0
        dist2 = tf.tensordot(u, tf.linalg.matvec(k, u), 1)
        value = tf.reduce_min(tf.where(active, tf.linalg.matvec(k, v), inf))
        feasible = tf.logical_and(dist2 <= r * r * (1.0 + 2e-5), tf.math.is_finite(value))
        return tf.where(feasible, value, -inf)

    def floor_of(w):
        """Rounding level of the certificate F(w) - min_i g_i . d for dual weights w.

        The products g_i . d are exact to about T eps |g_i| |d|. ||g_w|| is
        the square root of a quadratic form that is exact to
        q = 4 T eps (sum_i w_i |g_i|)^2, so near ||g_w|| = 0 (0 in the hull)
        it is only known to about sqrt(q): float32's limit, not the solver's.
        """
        spread = tf.tensordot(w, norms, 1)
        q = 4.0 * t * EPS32 * spread * spread
        return (16.0 * t * EPS32 * spread * (tf.sqrt(beta) + r)
                + r * tf.math.divide_no_nan(q, norm_of(w) + tf.sqrt(q)))

    def body(i, sigma, lo, hi, w, support, best_v, best_value, best_bound, done):
        # (A) MGDA on the points g_i + sigma g0 (sigma = 1 / tau; sigma = 0 in
        # the first iteration: plain MGDA), warm-started from the last
        # support. Its weights w give D(tau) = g0 + tau g_w, or the paper's
        # point g0 + r g_w / ||g_w|| on the sphere when D(tau) lies outside.
        tau = tf.math.divide_no_nan(1.0, sigma)
        kt = k + sigma * (b[:, None] + b[None, :]) + sigma * sigma * beta
        kt = kt / tf.reduce_max(tf.where(active, tf.linalg.diag_part(kt), 0.0))
        w, support, _, _ = wolfe_min_norm(kt, active, w, support, 250, 1e-6)
        gw = norm_of(w)
        dist = tf.where(sigma > 0, gw * tau, tf.where(gw > 0, inf, 0.0))
        lam = tf.where(dist > r, tf.math.divide_no_nan(r, gw), tau)
        # (B) On that support the min-norm weights are exactly a0 + a1 / tau
        # (two bordered systems in k, well conditioned), so
        # D = g0 + G^T (tau a0 + a1) and ||D - g0||^2 = P tau^2 + 2 Q tau + R:
        # solve it for the radius r.
        x = bordered_solve(k, support, rhs, rhs_sum)
        a0, a1 = x[:, 0], x[:, 1]
        ka0 = tf.linalg.matvec(k, a0)
        p_, q_ = tf.tensordot(a0, ka0, 1), tf.tensordot(a1, ka0, 1)
        r_ = tf.tensordot(a1, tf.linalg.matvec(k, a1), 1)
        disc = q_ * q_ - p_ * (r_ - r * r)
        root = tf.math.divide_no_nan(r * r - r_, q_ + tf.sqrt(tf.maximum(disc, 0.0)))
        usable = tf.logical_and(tf.logical_and(disc >= 0, root > 0),
                                tf.logical_and(tf.math.is_finite(root),
                                               tf.reduce_all(tf.math.is_finite(x))))
        # (C) First iteration only, when plain MGDA's bound is at the rounding
        # level (t* <= 0): the projection of g0 onto {d : G d >= 0}, the limit
        # of D(tau), is the answer if it lies in the ball.
        degenerate = tf.logical_and(tf.equal(i, 0), bound_of(w) <= floor_of(w))
        v_proj = tf.cond(degenerate,
                         lambda: lower_bounded_qp(k, w0[None], active, 250)[0][0],
                         lambda: w0)
        cands_v = tf.stack([w0 + lam * w, tf.where(usable, w0 + root * a0 + a1, w0), v_proj])
        cands_w = tf.stack([w, tf.where(usable, a0 + tf.math.divide_no_nan(a1, root), w)])
        values = tf.stack([value_of(cands_v[j]) for j in range(3)])
        bounds = tf.stack([bound_of(cands_w[0]), bound_of(cands_w[1])])
        best = tf.argmax(values, output_type=tf.int32)
        best_v = tf.where(tf.gather(values, best) > best_value, tf.gather(cands_v, best), best_v)
        best_value = tf.maximum(best_value, tf.reduce_max(values))
        best_bound = tf.minimum(best_bound, tf.reduce_min(bounds))
        certified = best_bound - best_value <= tol * tf.abs(best_bound) + floor_of(w)
        # Safeguarded next tau = 1 / sigma: the root if it lies in the bracket.
        lo = tf.where(tf.logical_and(sigma > 0, dist < r), tau, lo)
        hi = tf.where(tf.logical_and(sigma > 0, dist >= r), tau, hi)
        inside = tf.logical_and(usable, tf.logical_and(root > lo, root < hi))
        fallback = tf.where(tf.math.is_finite(hi),
                            tf.where(lo > 0, tf.sqrt(lo * hi), 0.25 * hi),
                            tf.where(sigma > 0, 4.0 * tau, c))
        new_tau = tf.where(inside, root, fallback)
        # A bracket narrower than float32 resolution cannot improve further.
        collapsed = tf.logical_and(tf.math.is_finite(hi), hi - lo <= 4.0 * EPS32 * hi)
        return (i + 1, 1.0 / new_tau, lo, hi, w, support, best_v, best_value, best_bound,
                tf.stack([certified, collapsed]))

    def cond(i, *state):
        return tf.logical_and(i < num_steps, tf.logical_not(tf.reduce_any(state[-1])))

    start_w, start_support = min_norm_start(k, active)
    trivial = r <= 0                                   # c = 0 or g0 = 0: d* = g0
    state = (tf.constant(0), tf.constant(0.0), tf.constant(0.0), inf, start_w, start_support,
             w0, value_of(w0), inf, tf.stack([trivial, tf.constant(False)]))
    state = tf.while_loop(cond, body, state)
    weights = tf.where(trivial, w0, state[6])
    return weights, tf.logical_or(trivial, state[-1][0])


@keras.saving.register_keras_serializable(package="mtl_keras")
class CAGrad(SharedGradientWeighting):
    """CAGrad (Liu et al., NeurIPS 2021) as a `compile(weighting=...)` strategy.

    Follows the direction that maximises the worst task's improvement within
    a ball around the mean gradient (see `cagrad`).

    Args:
        mode: `"parameters"` (default) or `"representation"`.
        c: Radius factor `>= 0` (paper: 0.4 on NYUv2, 0.5 on multi-fashion).
        rescale: 0, 1 (default, divide by `1 + c^2`) or 2 (divide by `1 + c`).
        num_steps: Iteration cap of the inner solver's root search.

    Example:

    >>> import mtl_keras as mtl
    >>> mtl.weighting.CAGrad(c=0.5).get_config()["c"]
    0.5
    """

    def __init__(self, mode: str = "parameters", c: float = 0.4, rescale: int = 1,
                 num_steps: int = 100, **kwargs):
        super().__init__(mode=mode, **kwargs)
        self.c = check_number(c, "c", min_value=0)
        self.rescale = check_choice(rescale, "rescale", RESCALES)
        self.num_steps = check_int(num_steps, "num_steps", min_value=1)

    def combine_gradients(self, grads, present, losses=None):
        return cagrad(grads, present, self.c, self.rescale, self.num_steps)

    def get_config(self):
        config = super().get_config()
        config.update(c=self.c, rescale=self.rescale, num_steps=self.num_steps)
        return config
