"""Exact active-set solvers of the small Gram-space problems of the rules.

Two problem shapes cover the rules that solve an optimisation problem:

* the **min-norm point of a convex hull**, `min_{w in simplex} w^T K w`
  (MGDA; CAGrad solves a short sequence of them): `wolfe_min_norm`, P.
  Wolfe's algorithm ("Finding the nearest point in a polytope",
  Mathematical Programming 11, 1976);
* **lower-bounded quadratic programs**, `min_v v^T K v` s.t. `v >= l`
  (UPGrad's projections onto the cone of non-conflicting directions, and
  CAGrad's degenerate case): `lower_bounded_qp`, the active-set method of
  Lawson and Hanson ("Solving Least Squares Problems", 1974, chapter 23)
  written in the Gram matrix.

Both move between supports; on each support they solve a small linear
system exactly (`small_solve`), and they stop on the problem's optimality
certificate (the Frank-Wolfe gap, the KKT conditions) up to float32 rounding
of the matrix, after a few iterations per task. They reach the optimum
exactly, unlike the first-order loops they replace (which stopped short of it
when the gradients were badly conditioned). Their iteration caps are safety
nets; each solver reports whether its certificate was met.

All shapes are static (`T` tasks); loops are `tf.while_loop`s, so the
solvers run inside XLA-compiled training steps.
"""

from __future__ import annotations

import tensorflow as tf

from mtl_keras.weighting.numerics import EPS32


def small_solve(a, b):
    """Solves `a x = b` for small static square matrices.

    Gauss-Jordan elimination with partial pivoting, one column per
    iteration of a `tf.while_loop`: inside XLA on CPU it runs in 1-3 us for
    the `n <= 9` systems of the solvers here (`tf.linalg.solve` measured
    7 us at `n = 9`), and a loop compiles 3x faster than the same
    elimination unrolled. A singular `a` gives non-finite values.

    Args:
        a: `(n, n)` or batched `(B, n, n)`, float32 or float64.
        b: `(n, m)` or `(B, n, m)`, same dtype.

    Returns:
        `x` shaped like `b`.
    """
    batched = a.shape.rank == 3
    if not batched:
        a, b = a[None], b[None]
    n = a.shape[-1]
    rows = tf.range(n)[None, :]

    def body(c, m):
        column = tf.abs(tf.gather(m, c, axis=2))
        p = tf.argmax(tf.where(rows >= c, column, -tf.ones_like(column)), axis=1,
                      output_type=tf.int32)[:, None]
        m = tf.gather(m, tf.where(rows == c, p, tf.where(rows == p, c, rows)), batch_dims=1)
        pivot = tf.gather(m, c, axis=1)
        ratio = tf.gather(m, c, axis=2) / tf.gather(pivot, c, axis=1)[:, None]
        factor = tf.where(rows == c, tf.zeros_like(ratio), ratio)
        return c + 1, m - factor[:, :, None] * pivot[:, None, :]

    _, m = tf.while_loop(lambda c, m: c < n, body, (tf.constant(0), tf.concat([a, b], axis=-1)))
    x = m[:, :, n:] / tf.linalg.diag_part(m[:, :, :n])[:, :, None]
    return x if batched else x[0]


def bordered_solve(k, support, rhs_top, rhs_bottom):
    """Solves the affine-hull systems of the tasks in `support`.

    For each column `m` of the right-hand sides, finds `x` (zero outside
    `support`) and `nu` with `k_SS x_S + nu 1 = rhs_top_S[:, m]` and
    `sum_S x = rhs_bottom[m]`: with `rhs_top = 0`, `rhs_bottom = 1` that is
    the point of minimum norm on the affine hull of the support.

    Args:
        k: `(T, T)` Gram matrix.
        support: `(T,)` bool.
        rhs_top: `(T, M)`.
        rhs_bottom: `(M,)`.

    Returns:
        `(T, M)` solutions `x` (non-finite if the support's points are
        affinely dependent).
    """
    t = k.shape[0]
    s = tf.cast(support, k.dtype)
    top = tf.concat([k * s[:, None] * s[None, :] + tf.linalg.diag(1.0 - s), s[:, None]], axis=1)
    bottom = tf.concat([s, tf.zeros([1], k.dtype)], axis=0)[None, :]
    rhs = tf.concat([rhs_top * s[:, None], rhs_bottom[None, :]], axis=0)
    x = small_solve(tf.concat([top, bottom], axis=0), rhs)
    return x[:t] * s[:, None]


def _one_hot_bool(i, t):
    return tf.one_hot(i, t, on_value=True, off_value=False)


def wolfe_min_norm(k, active, w, support, max_iter, tol):
    """Wolfe's algorithm for `min_{w in simplex, w_i = 0 off active} w^T k w`.

    Each iteration solves for the min-norm point of the affine hull of the
    current support (`bordered_solve`). If its weights are all positive it
    becomes the iterate and the vertex `j` with the smallest `(k w)_j` is
    added unless the optimality certificate holds:
    `w^T k w - (k w)_j <= tol * w^T k w + 4 T eps s (s + |g_j|)` for every
    `j`, with `s = sum_i w_i |g_i|` (that is `d . g_j >= (1 - tol) |d|^2`,
    up to float32 rounding of the products involved). Otherwise the iterate moves towards it until a
    weight reaches 0, and that task leaves the support. It stops too when
    rounding keeps a new vertex from entering (the certificate then holds
    to rounding).

    Args:
        k: `(T, T)` positive semi-definite matrix (any scale).
        active: `(T,)` bool: the vertices allowed.
        w: `(T,)` start weights on the simplex, positive exactly on `support`,
            whose vertices must be affinely independent (one vertex is).
        support: `(T,)` bool.
        max_iter: Iteration cap (int).
        tol: Relative tolerance of the certificate.

    Returns:
        `(w, support, gap, converged)`: the weights, their support, the last
        `w^T k w - min_j (k w)_j` and whether the loop ended before the cap.
    """
    t = k.shape[0]
    norms = tf.sqrt(tf.maximum(tf.linalg.diag_part(k), 0.0))
    inf = tf.constant(float("inf"), k.dtype)
    zero_rhs, one = tf.zeros([t, 1], k.dtype), tf.ones([1], k.dtype)

    def body(i, w, support, done, gap):
        alpha = bordered_solve(k, support, zero_rhs, one)[:, 0]
        solved = tf.reduce_all(tf.math.is_finite(alpha))
        alpha = tf.where(solved, alpha, w)
        positive = tf.reduce_all(tf.logical_or(alpha > 0, tf.logical_not(support)))
        # Major step: alpha is the new iterate; add the most violated vertex.
        kw = tf.linalg.matvec(k, alpha)
        xx = tf.tensordot(alpha, kw, 1)
        j = tf.argmin(tf.where(active, kw, inf), output_type=tf.int32)
        new_gap = xx - tf.gather(kw, j)
        # Rounding level of xx - (k w)_j: |d| (|d| + |g_j|) up to 4 T eps,
        # with |d| bounded by sum_i w_i |g_i| (per task, so a small task next
        # to a huge one is judged on its own scale).
        spread = tf.tensordot(tf.abs(alpha), norms, 1)
        floor = 4.0 * t * EPS32 * spread * (spread + tf.gather(norms, j))
        optimal = tf.logical_or(new_gap <= tol * xx + floor, tf.gather(support, j))
        add = tf.logical_and(_one_hot_bool(j, t), tf.logical_not(optimal))
        # Minor step: move towards alpha until the first weight reaches 0.
        leaving = tf.logical_and(support, alpha <= 0)
        ratio = tf.where(leaving, w / tf.where(leaving, w - alpha, 1.0), inf)
        m = tf.argmin(ratio, output_type=tf.int32)
        theta = tf.minimum(tf.gather(ratio, m), 1.0)
        moved = w + theta * (alpha - w)
        kept = tf.logical_and(tf.logical_and(support, moved > 0),
                              tf.logical_not(_one_hot_bool(m, t)))
        moved = tf.where(kept, moved, 0.0)
        moved = moved / tf.reduce_sum(moved)
        # theta == 0: the vertex just added cannot enter (rounding), or the
        # support became numerically dependent (singular system): stop.
        stalled = tf.logical_or(tf.logical_and(tf.logical_not(positive), theta <= 0),
                                tf.logical_not(solved))
        return (i + 1,
                tf.where(positive, alpha, tf.where(stalled, w, moved)),
                tf.where(positive, tf.logical_or(support, add),
                         tf.where(stalled, tf.logical_and(support, w > 0), kept)),
                tf.logical_or(tf.logical_and(positive, optimal), stalled),
                tf.where(positive, new_gap, gap))

    def cond(i, w, support, done, gap):
        return tf.logical_and(i < max_iter, tf.logical_not(done))

    _, w, support, done, gap = tf.while_loop(
        cond, body, (tf.constant(0), w, support, tf.constant(False), inf))
    return w, support, gap, done


def min_norm_start(k, active):
    """Wolfe's start: the active vertex of smallest norm, as `(w, support)`."""
    t = k.shape[0]
    i = tf.argmin(tf.where(active, tf.linalg.diag_part(k), float("inf")), output_type=tf.int32)
    return tf.one_hot(i, t, dtype=k.dtype), _one_hot_bool(i, t)


def lower_bounded_qp(k, lower, active, max_iter):
    """Solves `min_v v^T k v` s.t. `v >= lower_r`, for every row `r` of `lower`.

    With `v = l + mu`, `mu >= 0`, this is a non-negative least-squares
    problem in the Gram matrix; Lawson and Hanson's active-set method solves
    it exactly: free ("passive") coordinates `P` satisfy `(k v)_P = 0`
    (a linear solve), a coordinate whose `mu` would turn negative leaves `P`,
    and the coordinate with the most negative `(k v)_j` enters while one is
    below `-4 T eps |g_j| sum_i |v_i| |g_i|` (the rounding level of `g_j . d`,
    with `|g_i| = sqrt(k_ii)`). At the end the KKT conditions hold to that level: `v >= l`,
    `k v >= 0` (in gradient terms `g_j . d >= 0` with `d = G^T v`), and
    `(k v)_j = 0` wherever `v_j > l_j`. All rows are solved side by side.

    Args:
        k: `(T, T)` positive semi-definite matrix.
        lower: `(R, T)` lower bounds.
        active: `(T,)` bool: coordinates that may move (others stay at the
            bound; pass the present tasks).
        max_iter: Iteration cap.

    Returns:
        `(v (R, T), converged (R,) bool)`.
    """
    r, t = lower.shape
    eye = tf.eye(t, dtype=k.dtype)
    norms = tf.sqrt(tf.maximum(tf.linalg.diag_part(k), 0.0))
    kl = tf.matmul(lower, k)                                     # (R, T): K l
    inf = tf.constant(float("inf"), k.dtype)

    def body(i, mu, passive, done):
        # Minimiser of (l + z)^T K (l + z) with z = 0 outside P: K_PP z_P = -(K l)_P.
        p = tf.cast(passive, k.dtype)
        a = k[None] * p[:, :, None] * p[:, None, :] + tf.linalg.diag(1.0 - p)
        z = small_solve(a, (-kl * p)[:, :, None])[:, :, 0] * p
        solved = tf.reduce_all(tf.math.is_finite(z), axis=1)
        z = tf.where(solved[:, None], z, mu)
        positive = tf.reduce_all(tf.logical_or(z > 0, tf.logical_not(passive)), axis=1)
        # Major step: z is the new iterate; free the most negative (K v)_j.
        h = kl + tf.matmul(z, k)
        # Rounding level of (K v)_j = g_j . d: 4 T eps |g_j| sum_i |v_i| |g_i|.
        floor = (4.0 * t * EPS32) * norms[None, :] * tf.matmul(tf.abs(lower + z), norms[:, None])
        free = tf.logical_and(tf.logical_not(passive), active[None, :])
        below = tf.where(free, h + floor, inf)
        j = tf.argmin(below, axis=1, output_type=tf.int32)
        optimal = tf.logical_not(tf.gather(below, j, batch_dims=1) < 0)
        add = tf.logical_and(tf.cast(tf.gather(eye, j), tf.bool), tf.logical_not(optimal)[:, None])
        # Minor step: towards z until the first free coordinate reaches 0.
        leaving = tf.logical_and(passive, z <= 0)
        ratio = tf.where(leaving, mu / tf.where(leaving, mu - z, 1.0), inf)
        m = tf.argmin(ratio, axis=1, output_type=tf.int32)
        theta = tf.minimum(tf.gather(ratio, m, batch_dims=1), 1.0)[:, None]
        moved = mu + theta * (z - mu)
        kept = tf.logical_and(tf.logical_and(passive, moved > 0),
                              tf.logical_not(tf.cast(tf.gather(eye, m), tf.bool)))
        moved = tf.where(kept, moved, 0.0)
        stalled = tf.logical_or(tf.logical_and(tf.logical_not(positive), theta[:, 0] <= 0),
                                tf.logical_not(solved))
        new_mu = tf.where(positive[:, None], z, tf.where(stalled[:, None], mu, moved))
        new_passive = tf.where(positive[:, None], tf.logical_or(passive, add),
                               tf.where(stalled[:, None], tf.logical_and(passive, mu > 0), kept))
        new_done = tf.logical_or(tf.logical_and(positive, optimal), stalled)
        keep = done[:, None]
        return (i + 1, tf.where(keep, mu, new_mu), tf.where(keep, passive, new_passive),
                tf.logical_or(done, new_done))

    def cond(i, mu, passive, done):
        return tf.logical_and(i < max_iter, tf.logical_not(tf.reduce_all(done)))

    _, mu, _, done = tf.while_loop(
        cond, body, (tf.constant(0), tf.zeros_like(lower), tf.zeros([r, t], tf.bool),
                     tf.zeros([r], tf.bool)))
    return lower + mu, done
