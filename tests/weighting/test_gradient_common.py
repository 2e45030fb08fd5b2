"""Shared helpers of the gradient rules: the counter-based random draws."""

import numpy as np
import tensorflow as tf

from mtl_keras.weighting.gradient_common import hashed_bits, hashed_uniform
from mtl_keras.weighting.pcgrad import random_orders


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
