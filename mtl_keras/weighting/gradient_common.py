"""Shared pieces of the gradient-combination methods.

Small TensorFlow functions used by several rules: the Gram matrix, norms
without an epsilon, the validation of the matrix and of the `present` mask and
the counter-based random draws of the random rules. The scale-free preparation
of a rule's input (power-of-two normalised Gram matrix, bad input) is in
`numerics.py`; the base classes (`SharedGradientWeighting`) and the seed
handling (`resolve_seed`, `Weighting.set_seed`) are in `base.py`.
"""

from __future__ import annotations

import tensorflow as tf

# Re-exported for code written against their old home.
from mtl_keras.weighting.base import MODES, SharedGradientWeighting, resolve_seed  # noqa: F401


def _mix32(x):
    """The "lowbias32" integer finalizer (C. Wellons): a bijection of uint32
    whose outputs pass the usual avalanche tests."""
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(16, tf.uint32)))
    x = x * tf.constant(0x7FEB352D, tf.uint32)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(15, tf.uint32)))
    x = x * tf.constant(0x846CA68B, tf.uint32)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(16, tf.uint32)))


def hashed_bits(shape, seed):
    """Counter-based random `uint32` values of `shape`: a hash of `(seed, index)`.

    The random rules draw with this instead of `tf.random.stateless_*`
    because it gives the same numbers in ordinary graphs and in XLA-compiled
    ones (XLA lowers TensorFlow's stateless generators differently, and
    slowly on CPU), so a training step draws the same masks and orders
    whether or not it is compiled, on one device or several.

    Args:
        shape: The output shape (a list or a 1-D int tensor).
        seed: A pair of ints, or an int `(2,)` tensor (e.g. `(seed, step)`).
    """
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    low = tf.cast(tf.bitwise.bitwise_and(seed, 0xFFFFFFFF), tf.uint32)
    key = _mix32(tf.bitwise.bitwise_xor(_mix32(low[0] + tf.constant(0x9E3779B9, tf.uint32)),
                                        low[1]))
    size = tf.reduce_prod(tf.cast(shape, tf.int64))
    index = tf.cast(tf.range(size), tf.uint32)
    bits = _mix32(index * tf.constant(0x9E3779B9, tf.uint32) + key)
    return tf.reshape(bits, tf.cast(shape, tf.int64))


def hashed_uniform(shape, seed):
    """Uniform float32 values in `[0, 1)` (24 random bits each) from `hashed_bits`.

    >>> u = hashed_uniform([1000], (3, 7))
    >>> bool(tf.reduce_all((u >= 0) & (u < 1))), round(float(tf.reduce_mean(u)), 1)
    (True, 0.5)
    """
    bits = tf.bitwise.right_shift(hashed_bits(shape, seed), tf.constant(8, tf.uint32))
    return tf.cast(bits, tf.float32) * (1.0 / (1 << 24))


def as_matrix(grads):
    """Converts `grads` to a float32 `(num_tasks, dim)` tensor.

    Raises:
        ValueError: If `grads` is not a matrix, its number of tasks is not
            static or is 0, or it has no columns (`dim == 0`, when static).
    """
    grads = tf.convert_to_tensor(grads, tf.float32)
    if grads.shape.rank != 2:
        raise ValueError(
            f"Expected a (num_tasks, dim) gradient matrix. Received: shape={grads.shape}"
        )
    num_tasks, dim = grads.shape
    if num_tasks is None or num_tasks < 1:
        raise ValueError(
            "Expected a (num_tasks, dim) gradient matrix with a static num_tasks >= 1. "
            f"Received: shape={grads.shape}"
        )
    if dim == 0:
        raise ValueError(
            "Expected a (num_tasks, dim) gradient matrix with dim >= 1. "
            f"Received: shape={grads.shape}"
        )
    return grads


def as_present(present, grads):
    """The `(num_tasks,)` float mask of tasks taking part (all ones if None).

    Raises:
        ValueError: If `present` does not have shape `(num_tasks,)`, or (when
            run eagerly) holds values other than 0 and 1.
    """
    num_tasks = grads.shape[0]
    if present is None:
        return tf.ones([num_tasks], tf.float32)
    present = tf.cast(tf.convert_to_tensor(present), tf.float32)
    if present.shape.rank != 1 or present.shape[0] not in (None, num_tasks):
        raise ValueError(
            f"Expected present to have shape ({num_tasks},), one 0/1 entry per task. "
            f"Received: shape={present.shape}"
        )
    if tf.executing_eagerly():
        values = present.numpy()
        if not ((values == 0) | (values == 1)).all():
            raise ValueError(
                f"Expected present to hold 0 or 1. Received: present={values.tolist()}")
    return present


def gram(grads):
    """`G G^T`: the `(num_tasks, num_tasks)` matrix of inner products.

    With a static number of tasks this is one matrix-vector product per row:
    on CPU, TensorFlow's `matmul(G, G, transpose_b=True)` of a short, very
    wide matrix runs several times slower than the same products as
    `matvec`s (measured 240 us versus 50 us for a `(4, 16384)` matrix).
    """
    num_tasks = grads.shape[0]
    if num_tasks is None:
        return tf.matmul(grads, grads, transpose_b=True)
    return tf.stack([tf.linalg.matvec(grads, grads[i]) for i in range(num_tasks)])


def weighted_sum(weights, grads, present=None):
    """`sum_i w_i g_i` as a `(dim,)` vector (rows with `present == 0` left out).

    A broadcast multiply and a column sum: on CPU this is about 4x faster
    than `matvec(G, w, transpose_a=True)` for a short, wide `G`. With
    `present`, absent rows are dropped with a select (which XLA fuses into
    the sum), so they may hold anything, NaN included.
    """
    terms = grads * tf.cast(weights, grads.dtype)[:, None]
    if present is not None:
        terms = tf.where(present[:, None] > 0, terms, 0.0)
    return tf.reduce_sum(terms, axis=0)


def safe_sqrt(x):
    """`sqrt(max(x, 0))`, with gradient 0 (not inf) at 0; exact for every `x > 0`.

    No epsilon: a squared norm of 1e-30 has the square root 1e-15.
    """
    positive = x > 0
    return tf.where(positive, tf.sqrt(tf.where(positive, x, tf.ones_like(x))), tf.zeros_like(x))


def cosine_matrix(grads):
    """Pairwise cosine similarities; 0 where a gradient is zero.

    Computed from the power-of-two-normalised Gram matrix (see
    `numerics.scaled_gram`), so it does not depend on the gradients' scale.
    """
    from mtl_keras.weighting.numerics import cosines, scaled_gram

    grads = as_matrix(grads)
    k, _ = scaled_gram(grads, tf.ones([grads.shape[0]], tf.float32))
    return cosines(k)


def compiled(fn):
    """Compiles a small Gram-space solver `fn` into one XLA function.

    The solvers (Frank-Wolfe, Newton, coordinate descent, ...) run many tiny
    `(num_tasks, num_tasks)` operations in loops; as ordinary graph ops each
    pays TensorFlow's per-op dispatch cost, while XLA fuses the whole loop
    into one kernel (10-20x faster on CPU). The `(num_tasks, dim)` matrix
    products stay outside, in the ordinary graph.
    """
    return tf.function(fn, jit_compile=True, autograph=False)


__all__ = [
    "as_matrix",
    "as_present",
    "compiled",
    "cosine_matrix",
    "gram",
    "hashed_bits",
    "hashed_uniform",
    "safe_sqrt",
    "weighted_sum",
]
