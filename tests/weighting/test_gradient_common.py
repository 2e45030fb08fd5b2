"""Shared helpers of the gradient rules: random draws, norms, validation, scaled Gram."""

import numpy as np
import pytest
import tensorflow as tf

from mtl_keras.weighting.gradient_common import (
    as_matrix, as_present, cosine_matrix, hashed_bits, hashed_uniform, safe_sqrt,
)
from mtl_keras.weighting.numerics import pow2, scale_pow2, scaled_gram
from mtl_keras.weighting.pcgrad import random_orders
from mtl_keras.weighting.solvers import small_solve


def _lowbias32(x):
    # The published integer hash, in numpy's uint32 arithmetic (wraps mod 2^32).
    x = np.asarray(x, np.uint64)
    m = np.uint64(0xFFFFFFFF)
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & m
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & m
    x ^= x >> np.uint64(16)
    return x


def test_bits_are_the_documented_hash_of_seed_and_index():
    seed = (12345, 7)
    key = _lowbias32(_lowbias32((seed[0] + 0x9E3779B9) & 0xFFFFFFFF) ^ seed[1])
    index = np.arange(10, dtype=np.uint64)
    expected = _lowbias32(((index * np.uint64(0x9E3779B9)) + key) & np.uint64(0xFFFFFFFF))
    np.testing.assert_array_equal(hashed_bits([10], seed).numpy(), expected.astype(np.uint32))


def test_same_draws_eager_in_graphs_and_under_xla():
    seed = tf.constant([3, 11], tf.int64)
    eager = hashed_uniform([4, 50], seed).numpy()
    graph = tf.function(lambda s: hashed_uniform([4, 50], s))(seed).numpy()
    xla = tf.function(lambda s: hashed_uniform([4, 50], s), jit_compile=True)(seed).numpy()
    np.testing.assert_array_equal(eager, graph)
    np.testing.assert_array_equal(eager, xla)
    orders = random_orders(5, seed).numpy()
    xla_orders = tf.function(lambda s: random_orders(5, s), jit_compile=True)(seed).numpy()
    np.testing.assert_array_equal(orders, xla_orders)
    assert all(sorted(row) == list(range(5)) for row in orders)


def test_uniform_draws_look_uniform_and_depend_on_both_seed_parts():
    u = hashed_uniform([100_000], (0, 0)).numpy()
    assert u.min() >= 0.0 and u.max() < 1.0
    counts = np.histogram(u, bins=10, range=(0, 1))[0]
    # 10,000 expected per bin; a binomial sd is ~95, so 500 is > 5 sd.
    assert np.all(np.abs(counts - 10_000) < 500)
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.02     # neighbours uncorrelated
    a, b, c = (hashed_uniform([64], s).numpy() for s in [(1, 2), (1, 3), (2, 2)])
    assert not np.allclose(a, b) and not np.allclose(a, c)


def test_safe_sqrt_has_no_epsilon_and_a_finite_gradient_at_zero():
    x = tf.constant([1e-30, 1e-14, 0.0, -1.0, 4.0])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = safe_sqrt(x)
    np.testing.assert_allclose(y.numpy(), [1e-15, 1e-7, 0.0, 0.0, 2.0], rtol=1e-6)
    grad = tape.gradient(y, x).numpy()
    assert np.all(np.isfinite(grad)) and grad[2] == 0.0 and grad[4] == pytest.approx(0.25)


def test_cosine_matrix_at_any_scale():
    g = np.array([[3.0, 4.0], [4.0, -3.0], [0.0, 0.0]], "float32")
    want = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    for s in (1e-20, 1.0, 1e15):       # squares below / above float32's range
        np.testing.assert_allclose(cosine_matrix(g * np.float32(s)).numpy(), want, atol=1e-6)


def test_scaled_gram_is_exact_and_normalised_by_a_power_of_two():
    g = np.array([[3.0, 4.0], [1.0, 0.0]], "float32")      # K = [[25, 3], [3, 1]]
    for e in (0, -70, 70):                                  # +-70: rows rescaled first
        k, p = scaled_gram(tf.constant(g * np.float32(2.0 ** e)), tf.ones([2]))
        # max diag 25 * 4^e = 4^(e + 2) * 1.5625: normalised by 4^(e + 2).
        np.testing.assert_array_equal(k.numpy(), np.array([[25.0, 3.0], [3.0, 1.0]]) / 16)
        assert int(p) == e + 2
    k, p = scaled_gram(tf.constant(g), tf.constant([0.0, 1.0]))   # absent row 0
    np.testing.assert_array_equal(k.numpy(), [[0.0, 0.0], [0.0, 1.0]])
    np.testing.assert_array_equal(pow2(tf.constant([-126, 0, 127])).numpy(),
                                  [2.0 ** -126, 1.0, 2.0 ** 127])
    assert float(scale_pow2(tf.constant(3.0 * 2.0 ** 100), -200)) == 3.0 * 2.0 ** -100


def test_small_solve_matches_numpy_in_float32_float64_and_batches():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 5, 5))
    b = rng.normal(size=(4, 5, 2))
    want = np.linalg.solve(a, b)
    np.testing.assert_allclose(small_solve(tf.constant(a), tf.constant(b)).numpy(), want,
                               rtol=1e-10)
    got = small_solve(tf.constant(a[0], tf.float32), tf.constant(b[0], tf.float32)).numpy()
    np.testing.assert_allclose(got, want[0], rtol=1e-4, atol=1e-5)
    # A zero leading entry needs the row exchange (partial pivoting).
    x = small_solve(tf.constant([[0.0, 1.0], [2.0, 0.0]]), tf.constant([[3.0], [4.0]]))
    np.testing.assert_allclose(x.numpy()[:, 0], [2.0, 3.0])


def test_matrix_and_mask_validation():
    with pytest.raises(ValueError, match=r"Expected a \(num_tasks, dim\) gradient matrix"):
        as_matrix(np.zeros(3, "float32"))
    with pytest.raises(ValueError, match="static num_tasks >= 1"):
        as_matrix(np.zeros((0, 3), "float32"))
    with pytest.raises(ValueError, match="dim >= 1"):
        as_matrix(np.zeros((2, 0), "float32"))
    g = as_matrix(np.zeros((2, 3), "float32"))
    np.testing.assert_array_equal(as_present(None, g).numpy(), [1.0, 1.0])
    with pytest.raises(ValueError, match=r"Expected present to have shape \(2,\).*shape=\(3,\)"):
        as_present([1.0, 1.0, 0.0], g)
    with pytest.raises(ValueError,
                       match=r"Expected present to hold 0 or 1. Received: present=\[1.0, 2.0\]"):
        as_present([1.0, 2.0], g)
