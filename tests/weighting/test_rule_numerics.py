"""Numerics of the gradient-combination rules (issue 14).

Every rule is checked on seeded random matrices and on the hard cases
(near-parallel, opposed, one task 100x larger, a zero row, rank-deficient,
more tasks than dimensions) for:

* scale: `rule(s G) == s rule(G)` (`s^0` for the invariant rules) exactly for
  powers of two from 2^-100 to 2^60 (both sides of float32's range, where the
  Gram matrix is re-formed from rescaled rows), and to float32 accuracy for
  other factors from 1e-8 to 1e4;
* optimality: certificates (Frank-Wolfe gap, KKT conditions, duality gap)
  and float64 references computed here with numpy and scipy;
* bad input: NaN / inf, empty matrices, every task absent.
"""

import itertools

import numpy as np
import pytest
import tensorflow as tf
from scipy.optimize import minimize, nnls

from mtl_keras.weighting import (
    aligned_mtl, cagrad, graddrop, gradvac, imtl_g, mgda, nash_mtl, pcgrad, upgrad,
)

EPS = 2.0 ** -23


def _gradvac(g, p=None):
    t = np.shape(g)[0]
    targets = np.full((t, t), 0.3, "float32")
    return gradvac(g, targets, p, beta=0.5, seed=(1, 2))[:2]


# name -> (rule(grads, present) -> (direction, weights), degree of the direction)
RULES = {
    "mgda": (lambda g, p=None: mgda(g, p), 1),
    "mgda_l2": (lambda g, p=None: mgda(g, p, normalization="l2"), 0),
    "cagrad": (lambda g, p=None: cagrad(g, p, c=0.4), 1),
    "imtl_g": (lambda g, p=None: imtl_g(g, p), 1),
    "pcgrad": (lambda g, p=None: pcgrad(g, p, seed=(1, 2)), 1),
    "gradvac": (_gradvac, 1),
    "graddrop": (lambda g, p=None: graddrop(g, p, seed=(1, 2)), 1),
    "aligned_mtl": (lambda g, p=None: aligned_mtl(g, p), 1),
    "upgrad": (lambda g, p=None: upgrad(g, p), 1),
    "nash_mtl": (lambda g, p=None: nash_mtl(g, p), 0),
}


def _cases():
    """name -> float32 (T, dim) matrix: random and hard cases, seeded."""
    rng = np.random.default_rng(14)
    g = rng.normal(size=(3, 6))
    out = {"random": g.copy()}
    near = g.copy()
    near[1] = near[0] + 1e-3 * near[1]
    out["near_parallel"] = near
    opposed = g.copy()
    opposed[1] = -opposed[0]
    out["opposed"] = opposed
    big = g.copy()
    big[0] *= 100.0
    out["one_100x"] = big
    zero = g.copy()
    zero[1] = 0.0
    out["zero_row"] = zero
    deficient = g.copy()
    deficient[2] = deficient[0] + deficient[1]
    out["rank_deficient"] = deficient
    out["more_tasks_than_dims"] = rng.normal(size=(3, 2))
    return {k: v.astype("float32") for k, v in out.items()}


CASES = _cases()


def _np(x):
    return np.asarray(x, "float64")


def _magnitude(w, g):
    """sum_i |w_i| |g_i|: the size of the terms summed into the direction."""
    return float(np.sum(np.abs(_np(w)) * np.linalg.norm(_np(g), axis=1)))


# --------------------------------------------------------------------------
# Scale: exact for powers of two, float32-accurate for any factor.
# --------------------------------------------------------------------------

def _assert_exactly_scaled(actual, expected, message):
    """Bitwise equal, except that float32 flushes subnormal results to 0."""
    actual, expected = _np(actual), _np(expected)
    normal = np.abs(expected) >= 2.0 ** -126
    np.testing.assert_array_equal(actual[normal], expected[normal], err_msg=message)
    assert np.all(np.abs(actual[~normal]) < 2.0 ** -126), message


@pytest.mark.parametrize("name", sorted(RULES))
def test_powers_of_two_scale_exactly(name):
    rule, degree = RULES[name]
    weight_degree = -1 if name in ("nash_mtl", "mgda_l2") else 0
    for case, g in CASES.items():
        d, w = rule(g)
        for e in (-100, -27, 13, 60):     # 2^-100 and 2^60: the rescaled-rows branch
            s = np.float32(2.0 ** e)
            ds, ws = rule(g * s)
            _assert_exactly_scaled(ds, _np(d) * float(s) ** degree, f"{name} {case} 2^{e}")
            _assert_exactly_scaled(ws, _np(w) * float(s) ** weight_degree,
                                   f"{name} {case} 2^{e}")


@pytest.mark.parametrize("name", sorted(RULES))
def test_any_scale_from_1e_8_to_1e4_to_float32_accuracy(name):
    rule, degree = RULES[name]
    for case, g in CASES.items():
        if name == "graddrop" and case != "random":
            continue      # coordinate-wise: a sign flip at a tied coordinate is legitimate
        d, w = rule(g)
        size = _magnitude(w, g) if name != "graddrop" else float(np.abs(g).sum())
        for s in (1e-8, 3.3e-3, 1e4):
            ds, _ = rule(g * np.float32(s))
            want = _np(d) * s ** degree
            # Relative to the size of the summed terms: float32 rounding of
            # s G (1e-7 relative) through the rule's conditioning.
            tol = 2e-4 * size * s ** degree + 1e-30
            assert np.max(np.abs(_np(ds) - want)) <= tol, (name, case, s)


def test_issue_examples_at_small_scale():
    # Examples from the issue: all at norm 1e-7 (the old epsilon zeroed them).
    g = np.random.default_rng(0).normal(size=(3, 6)).astype("float32")
    for s in (1e-7, 1e-8):
        d, _ = mgda(g * np.float32(s), normalization="l2")
        ref, _ = mgda(g, normalization="l2")
        np.testing.assert_allclose(_np(d), _np(ref), rtol=1e-4, atol=1e-6)
        d, _ = cagrad(g * np.float32(s), c=0.4)
        assert not np.allclose(_np(d) / s, g.mean(0), atol=1e-3)     # not the plain mean
        d, _ = gradvac(g * np.float32(s), np.full((3, 3), 0.5, "float32"))[:2]
        assert not np.allclose(_np(d) / s, g.sum(0), atol=1e-3)      # not the plain sum


# --------------------------------------------------------------------------
# MGDA: exact min-norm point.
# --------------------------------------------------------------------------

def _min_norm_reference(g):
    """float64 min-norm point of the convex hull, by enumerating supports."""
    scale = np.abs(_np(g)).max()
    g = _np(g) / scale
    k = g @ g.T
    t = len(k)
    best = None
    for size in range(1, t + 1):
        for support in itertools.combinations(range(t), size):
            s = list(support)
            a = np.zeros((size + 1, size + 1))
            a[:size, :size] = k[np.ix_(s, s)]
            a[:size, size] = a[size, :size] = 1.0
            if np.linalg.cond(a) > 1e12:
                continue
            x = np.linalg.solve(a, np.r_[np.zeros(size), 1.0])[:size]
            if np.any(x < 0):
                continue
            w = np.zeros(t)
            w[s] = x
            d = w @ g
            if np.all(g @ d >= d @ d - 1e-12 * np.max(np.diag(k))):
                if best is None or d @ d < best @ best:
                    best = d
    return best * scale


def _random_matrices(count, shapes, seed):
    rng = np.random.default_rng(seed)
    for i in range(count):
        t, dim = shapes[i % len(shapes)]
        yield rng.normal(size=(t, dim)).astype("float32")


def test_mgda_matches_float64_min_norm_point_and_certificate():
    for g in itertools.chain(_random_matrices(24, [(3, 10), (5, 12), (8, 20)], 1),
                             [CASES["one_100x"], CASES["near_parallel"]]):
        d, w = mgda(g)
        ref = _min_norm_reference(g)
        err = np.linalg.norm(_np(d) - ref) / np.linalg.norm(ref)
        assert err <= 1e-4, err
        assert np.all(_np(w) >= 0) and abs(np.sum(_np(w)) - 1.0) < 1e-6
        # Certificate, in float64 from the returned weights: d . g_i >= |d|^2.
        d64 = _np(w) @ _np(g)
        spread = _magnitude(w, g)
        slack = 4 * len(g) * EPS * spread * (spread + np.linalg.norm(_np(g), axis=1))
        assert np.all(_np(g) @ d64 >= (1 - 1e-5) * (d64 @ d64) - slack)


def test_mgda_hard_cases():
    # The issue's counter-example: d . g_i >= |d|^2 failed; 0 is in the hull.
    g = np.array([[1.0, 0.0], [-1.0, 0.0], [0.5, 1.0]], "float32")
    d, w = mgda(g)
    np.testing.assert_array_equal(_np(d), [0.0, 0.0])
    np.testing.assert_allclose(_np(w), [0.5, 0.5, 0.0], atol=1e-6)
    # 8 tasks in 5 dimensions: 33 % off before; the min-norm point is exact.
    rng = np.random.default_rng(7)
    for _ in range(5):
        g = rng.normal(size=(8, 5)).astype("float32")
        d, w = mgda(g)
        ref = _min_norm_reference(g)
        assert np.linalg.norm(_np(d) - ref) <= 1e-4 * max(np.linalg.norm(ref), 1e-3) \
            + 1e-5 * _magnitude(w, g)
    # A zero gradient is a Pareto-stationary point: d = 0.
    d, w = mgda(CASES["zero_row"])
    np.testing.assert_array_equal(_np(d), np.zeros(6))
    np.testing.assert_array_equal(_np(w), [0.0, 1.0, 0.0])


# --------------------------------------------------------------------------
# CAGrad: the max-min problem to 1e-3 (1e-4 in practice).
# --------------------------------------------------------------------------

def _cagrad_reference(g, c):
    """float64 max_{|d - g0| <= c |g0|} min_i g_i . d, by SLSQP on (d, t)."""
    scale = np.abs(_np(g)).max()             # SLSQP's tolerances are absolute
    g = _np(g) / scale
    g0 = g.mean(0)
    r = c * np.linalg.norm(g0)
    n, dim = g.shape
    cons = [{"type": "ineq", "fun": lambda x: g @ x[:dim] - x[dim],
             "jac": lambda x: np.c_[g, -np.ones(n)]},
            {"type": "ineq", "fun": lambda x: r * r - np.sum((x[:dim] - g0) ** 2),
             "jac": lambda x: np.r_[-2 * (x[:dim] - g0), 0.0][None]}]
    res = minimize(lambda x: -x[dim], np.r_[g0, np.min(g @ g0)],
                   jac=lambda x: np.r_[np.zeros(dim), -1.0], constraints=cons,
                   method="SLSQP", options={"ftol": 1e-15, "maxiter": 1000})
    return -res.fun * scale ** 2


def test_cagrad_issue_example():
    g = np.array([[-100, -200, 0, 300], [-1, 3, -1, 2], [-2, 0, -1, -2]], "float32")
    d, _ = cagrad(g, c=0.4, rescale=0)
    values = _np(g) @ _np(d)
    best = _cagrad_reference(g, 0.4)
    assert best == pytest.approx(18.690355, rel=1e-5)
    assert np.min(values) >= best * (1 - 1e-4)          # was -41.7 (task 3 conflicted)
    g0 = _np(g).mean(0)
    assert np.linalg.norm(_np(d) - g0) <= 0.4 * np.linalg.norm(g0) * (1 + 1e-5)


def test_cagrad_solves_the_max_min_problem_on_random_matrices():
    worst = 0.0
    for i, g in enumerate(_random_matrices(9, [(3, 10), (5, 12), (8, 20)], 2)):
        if i % 3 == 1:
            g[0] *= 100.0
        c = (0.1, 0.4, 0.9, 2.0)[i % 4]
        d, _ = cagrad(g, c=c, rescale=0)
        best = _cagrad_reference(g, c)
        value = np.min(_np(g) @ _np(d))
        worst = max(worst, (best - value) / abs(best))
        g0 = _np(g).mean(0)
        assert np.linalg.norm(_np(d) - g0) <= c * np.linalg.norm(g0) * (1 + 1e-5)
        # The paper's guarantee: the worst task does at least as well as with g0.
        assert value >= np.min(_np(g) @ g0) - 1e-6 * abs(np.min(_np(g) @ g0))
    assert worst <= 1e-3, worst


def test_cagrad_degenerate_cases_return_the_non_conflicting_projection():
    # 0 in the hull (a zero gradient, opposed pair): t* = 0. The answer is the
    # projection of g0 onto {d : G d >= 0}, computed here by NNLS in float64.
    for case in ("zero_row", "opposed"):
        g = CASES[case]
        d, _ = cagrad(g, c=0.9, rescale=0)
        g64 = _np(g)
        g0 = g64.mean(0)
        mu, _ = nnls(g64.T, -g0)                    # min |g0 + G^T mu|, mu >= 0
        projection = g0 + g64.T @ mu
        assert np.linalg.norm(projection - g0) <= 0.9 * np.linalg.norm(g0)
        np.testing.assert_allclose(_np(d), projection, atol=1e-5 * np.abs(g64).max())
        assert np.min(g64 @ _np(d)) >= -1e-5 * np.abs(g64).max() ** 2


# --------------------------------------------------------------------------
# IMTL-G: equal projections; rank-deficient and ill-scaled cases.
# --------------------------------------------------------------------------

def _imtl_reference(g):
    """float64 version of the documented rule (relative cutoff 128 T eps)."""
    g = _np(g)
    norms = np.linalg.norm(g, axis=1)
    u = g / norms[:, None]
    c = u @ u.T
    lam, v = np.linalg.eigh(c)
    keep = lam > 128 * EPS * len(g) * lam.max()
    x = v[:, keep] @ ((v[:, keep].T @ np.ones(len(g))) / lam[keep])
    y = x / norms
    alpha = y / max(abs(y.sum()), 2.0 ** -10 * np.abs(y).sum())
    return alpha @ g, alpha


def test_imtl_g_closed_form_and_hard_cases():
    d, w = imtl_g([[1000.0, 0.0], [0.0, 1000.0]])          # was [0.001, 0.001]
    np.testing.assert_allclose(_np(d), [500.0, 500.0], rtol=1e-6)
    np.testing.assert_allclose(_np(w), [0.5, 0.5], rtol=1e-6)
    for case in ("random", "near_parallel", "one_100x", "more_tasks_than_dims"):
        g = CASES[case]
        d, w = imtl_g(g)
        ref_d, ref_w = _imtl_reference(g)
        np.testing.assert_allclose(_np(w), ref_w, rtol=1e-4, atol=1e-6, err_msg=case)
        if case in ("random", "one_100x"):                  # full rank: equal projections
            proj = _np(g) @ _np(d) / np.linalg.norm(_np(g), axis=1)
            np.testing.assert_allclose(proj, proj[0], rtol=1e-5, err_msg=case)
            assert abs(np.sum(_np(w)) - 1.0) < 1e-5


def test_imtl_g_rank_deficient_is_a_documented_descent_direction():
    # g3 = g1 + g2: the paper's equations only have d = 0. The rule returns
    # the least-squares solution of the equal-projection equations instead.
    g = CASES["rank_deficient"]
    d, w = imtl_g(g)
    ref_d, ref_w = _imtl_reference(g)
    np.testing.assert_allclose(_np(d), ref_d, rtol=1e-4, atol=1e-6)
    proj = _np(g) @ _np(d) / np.linalg.norm(_np(g), axis=1)
    assert np.all(proj > 0.1 * np.linalg.norm(_np(d)))          # descends every task
    # The projections are those of 1 onto the range of the cosine matrix.
    u = _np(g) / np.linalg.norm(_np(g), axis=1, keepdims=True)
    c = u @ u.T
    ones_in_range = c @ np.linalg.pinv(c, rcond=1e-6) @ np.ones(3)
    np.testing.assert_allclose(proj / proj[0], ones_in_range / ones_in_range[0], rtol=1e-4)
    # Opposed gradients: no common descent direction: d = 0, weights (1/2, 1/2).
    d, w = imtl_g([[1.0, 2.0], [-1.0, -2.0]])
    np.testing.assert_array_equal(_np(d), [0.0, 0.0])
    np.testing.assert_allclose(_np(w), [0.5, 0.5], atol=1e-6)


# --------------------------------------------------------------------------
# UPGrad, Nash-MTL, Aligned-MTL, PCGrad: references and guarantees.
# --------------------------------------------------------------------------

def _upgrad_reference(g):
    g = _np(g)
    t = len(g)
    total = np.zeros(t)
    for i in range(t):
        low = np.eye(t)[i] / t
        mu, _ = nnls(g.T, -g.T @ low, maxiter=10_000)
        total += low + mu
    return total @ g


def test_upgrad_matches_nnls_and_never_conflicts():
    matrices = list(_random_matrices(12, [(3, 10), (5, 8), (8, 20)], 4))
    matrices += [CASES[c] for c in ("near_parallel", "one_100x", "rank_deficient", "zero_row")]
    for g in matrices:
        d, w = upgrad(g)
        ref = _upgrad_reference(g)
        size = _magnitude(w, g)
        assert np.linalg.norm(_np(d) - ref) <= 1e-4 * np.linalg.norm(ref) + 1e-5 * size
        # KKT certificate: g_i . d >= 0 up to the documented rounding level.
        t = len(g)
        slack = 4 * t * t * EPS * np.linalg.norm(_np(g), axis=1) * size
        assert np.all(_np(g) @ (_np(w) @ _np(g)) >= -slack)
    # 0 inside the hull (g and -g for every axis): the only direction that
    # conflicts with no task is 0.
    scales = np.random.default_rng(5).uniform(0.5, 2.0, size=(6, 1))
    g = (np.vstack([np.eye(3), -np.eye(3)]) * scales).astype("float32")
    d, w = upgrad(g)
    assert np.linalg.norm(_np(d)) <= 1e-6 * _magnitude(w, g)


def _nash_reference(g):
    scale = np.abs(_np(g)).max()             # alpha(G / s) = s alpha(G)
    k = _np(g) @ _np(g).T / scale ** 2
    res = minimize(lambda a: 0.5 * a @ k @ a - np.log(a).sum(), 1 / np.sqrt(np.diag(k)),
                   jac=lambda a: k @ a - 1 / a, hess=lambda a: k + np.diag(1 / a ** 2),
                   method="trust-exact", options={"gtol": 1e-12})
    return res.x / scale


def test_nash_mtl_matches_the_exact_bargaining_solution():
    matrices = list(_random_matrices(12, [(3, 5), (5, 6), (8, 20)], 6))
    matrices.append(CASES["one_100x"])
    for g in matrices:
        d, w = nash_mtl(g)
        np.testing.assert_allclose(_np(w), _nash_reference(g), rtol=1e-4)
        # The bargaining condition: every utility g_i . d equals 1 / alpha_i.
        np.testing.assert_allclose(_np(g) @ _np(d) * _np(w), 1.0, rtol=1e-4)


def _aligned_reference(g):
    k = _np(g) @ _np(g).T
    lam, v = np.linalg.eigh(k)
    keep = lam > 128 * EPS * len(k) * lam.max()
    b = np.sqrt(lam[keep].min()) * (v[:, keep] / np.sqrt(lam[keep])) @ v[:, keep].T
    return b.sum(1)


def test_aligned_mtl_and_pcgrad_guarantees():
    for case in ("random", "near_parallel", "one_100x", "rank_deficient"):
        g = CASES[case]
        d, w = aligned_mtl(g)
        np.testing.assert_allclose(_np(w), _aligned_reference(g), rtol=2e-4, err_msg=case)
    # Rank-deficient: the rounding-level eigenvalue is not taken as the
    # smallest singular value (that would shrink the update ~1000x).
    d, _ = aligned_mtl(CASES["rank_deficient"])
    assert np.linalg.norm(_np(d)) > 0.1 * np.linalg.norm(_np(CASES["rank_deficient"])[0])
    # PCGrad with two tasks: each projected gradient no longer conflicts.
    rng = np.random.default_rng(8)
    for _ in range(10):
        g = rng.normal(size=(2, 6)).astype("float32")
        if g[0] @ g[1] > 0:
            g[1] = -g[1]
        g *= np.float32(1e-6)
        d, w = pcgrad(g, seed=(0, 0))
        c0 = _np(g[0]) - (g[0] @ g[1]) / (g[1] @ g[1]) * _np(g[1])
        c1 = _np(g[1]) - (g[0] @ g[1]) / (g[0] @ g[0]) * _np(g[0])
        np.testing.assert_allclose(_np(d), c0 + c1, rtol=1e-4, atol=1e-12)


# --------------------------------------------------------------------------
# Bad input.
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(RULES))
def test_bad_input_raises_eagerly(name):
    rule, _ = RULES[name]
    g = CASES["random"].copy()
    for bad in (np.nan, np.inf):
        g[1, 2] = bad
        with pytest.raises(ValueError, match=r"Expected finite gradients .* row\(s\) \[1\]"):
            rule(g)
    with pytest.raises(ValueError, match="num_tasks >= 1"):
        rule(np.zeros((0, 4), "float32"))
    with pytest.raises(ValueError, match="dim >= 1"):
        rule(np.zeros((2, 0), "float32"))
    with pytest.raises(ValueError, match=r"Expected present to have shape \(3,\)"):
        rule(CASES["random"], [1.0, 1.0])
    with pytest.raises(ValueError, match="Expected present to hold 0 or 1"):
        rule(CASES["random"], [1.0, 0.5, 1.0])


@pytest.mark.parametrize("name", sorted(RULES))
def test_absent_rows_are_ignored_and_no_task_present_is_the_zero_update(name):
    rule, _ = RULES[name]
    g = CASES["random"]
    with_nan = g.copy()
    with_nan[1] = np.nan                       # absent: never read
    d, w = rule(with_nan, [1.0, 0.0, 1.0])
    d_ref, w_ref = rule(g, [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(_np(d), _np(d_ref))
    assert float(w[1]) == 0.0
    d, w = rule(g, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(_np(d), np.zeros(6))
    np.testing.assert_array_equal(_np(w), np.zeros(3))


def test_non_finite_input_in_a_graph_gives_the_zero_update():
    # Inside a tf.function (as in a training step, XLA-compiled or not)
    # values cannot raise: the rules return zeros. (The training step itself
    # raises, naming the task: tests/test_gradient_step.py.) Every Gram-matrix
    # rule goes through `numerics.prepare` (which then hands its solver a zero
    # matrix with no task present: the path of the test above) and
    # `numerics.finish`; these cover both, the scale of the invariant rules,
    # GradVac's targets and GradDrop's own path (one XLA compilation each).
    g = CASES["random"].copy()
    g[0, 0] = np.nan
    g[2, 1] = np.inf
    for name in ("mgda", "mgda_l2", "pcgrad", "gradvac", "graddrop", "nash_mtl"):
        rule = RULES[name][0]
        for jit_compile in (True, False) if name == "graddrop" else (True,):
            d, w = tf.function(rule, jit_compile=jit_compile)(tf.constant(g))
            np.testing.assert_array_equal(_np(d), np.zeros(6), err_msg=name)
            np.testing.assert_array_equal(_np(w), np.zeros(3), err_msg=name)


def test_solvers_warn_when_they_stop_at_their_cap():
    g = CASES["random"]
    with pytest.warns(RuntimeWarning, match="mgda: the solver stopped at its iteration cap"):
        mgda(g, max_iter=1)
    with pytest.warns(RuntimeWarning, match="upgrad: the solver stopped"):
        upgrad(g, num_sweeps=1)
