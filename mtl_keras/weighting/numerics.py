"""Scale-free numerics shared by the gradient-combination rules.

Every rule of this package is a function of the `(num_tasks, dim)` gradient
matrix `G`; all but GradDrop only need its Gram matrix `K = G G^T`. Real
gradients range from norms of 1e-8 (late training, mixed precision) to 1e4
(unnormalised regression targets), so the rules are written to give the same
answer at every scale:

* `scaled_gram` forms `K` once, in float32, and divides it by a power of two
  `4^p` chosen so that its largest diagonal entry lies in `[1, 4)`. Dividing
  by a power of two is exact, so `scaled_gram(2^m G)` returns exactly the
  same normalised matrix as `scaled_gram(G)`: every solver downstream sees
  the same numbers, and a rule that is homogeneous of degree 1 returns
  exactly `2^m` times its direction. Other factors change the normalised
  matrix by float32 rounding only (relative 1e-7).
* If the squared norms leave float32's comfortable range (largest diagonal
  below `2^-100` or above `2^100`, or not finite), the present rows are
  first multiplied by a power of two (exact) and `K` is formed again, in a
  branch that costs nothing when it is not taken. Tested with every
  gradient multiplied by powers of two from 2^-100 to 2^60.
* Tolerances in the solvers are relative to the normalised matrix (whose
  largest diagonal entry is 1 to 4) or to the solution itself; there is no
  absolute epsilon on norms anywhere.

Bad input (see `prepare`): a present row with NaN or inf raises a
`ValueError` when the rule runs eagerly; inside a `tf.function` or an
XLA-compiled step (where values cannot raise) the rule returns the zero
direction and zero weights. `MultiTaskModel`'s gradient step checks the rows
itself before any rule runs (see `mtl_keras/gradient_step.py`). Absent rows
(`present == 0`) are ignored whatever they hold.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import tensorflow as tf

from mtl_keras.weighting.gradient_common import as_matrix, as_present, gram, weighted_sum

#: float32 machine epsilon (the spacing of float32 numbers at 1).
EPS32 = 2.0 ** -23
#: Relative rank cutoff: eigenvalues of a normalised Gram (or cosine) matrix
#: below `RCOND * num_tasks` times the largest count as zero. The float32
#: Gram matrix of exactly dependent rows (`g3 = g1 + g2`, dim 1e5) has
#: eigenvalues of about `2 T eps` times the largest; this leaves a margin of 64.
RCOND = 128 * EPS32
#: `K` is re-formed from rescaled rows when its largest diagonal leaves this range.
_LOW, _HIGH = 2.0 ** -100, 2.0 ** 100


def _exponent(x):
    """`floor(log2(x))` of positive normal float32 values, as int32 (exact)."""
    return tf.bitwise.right_shift(tf.bitcast(x, tf.int32), 23) - 127


def pow2(e):
    """`2.0 ** e` as float32 for int32 `e` in `[-126, 127]` (exact)."""
    return tf.bitcast(tf.bitwise.left_shift(tf.cast(e, tf.int32) + 127, 23), tf.float32)


def scale_pow2(x, e):
    """`x * 2 ** e` for int32 `e` in `[-252, 254]`, as two exact multiplications."""
    e = tf.cast(e, tf.int32)
    half = e // 2
    return x * pow2(half) * pow2(e - half)


def scaled_gram(grads, present):
    """The Gram matrix of the present rows, normalised by a power of two.

    Args:
        grads: float32 `(num_tasks, dim)` matrix.
        present: float32 `(num_tasks,)` 0/1 mask.

    Returns:
        `(k, p)`: `k` float32 `(num_tasks, num_tasks)` with the rows and
        columns of absent tasks zero and its largest diagonal entry in
        `[1, 4)` (or all zero), and the int32 exponent `p` with
        `G G^T = 4^p k` (so the gradient norms are `2^p sqrt(diag(k))`).
    """
    keep = present > 0
    outer = tf.logical_and(keep[:, None], keep[None, :])
    k = tf.where(outer, gram(grads), 0.0)
    dmax = tf.reduce_max(tf.linalg.diag_part(k))
    in_range = tf.logical_and(dmax >= _LOW, dmax <= _HIGH)

    def rescaled():
        # Tiny or huge rows: bring the largest present entry to [1, 2) first.
        rows = tf.where(keep[:, None], grads, 0.0)
        m = tf.reduce_max(tf.abs(rows))
        usable = tf.logical_and(tf.math.is_finite(m), m > 0)
        e = tf.where(usable, _exponent(tf.where(usable, m, 1.0)), 0)
        return tf.where(outer, gram(scale_pow2(rows, -e)), 0.0), e

    k, e = tf.cond(in_range, lambda: (k, tf.constant(0, tf.int32)), rescaled)
    dmax = tf.reduce_max(tf.linalg.diag_part(k))
    usable = tf.logical_and(tf.math.is_finite(dmax), dmax > 0)
    q = tf.where(usable, _exponent(tf.where(usable, dmax, 1.0)) // 2, 0)
    return scale_pow2(k, -2 * q), e + q


def cosines(k):
    """Cosine matrix of a Gram matrix: `k_ij / sqrt(k_ii k_jj)`, 0 for zero rows."""
    norms = tf.sqrt(tf.maximum(tf.linalg.diag_part(k), 0.0))
    inv = tf.math.divide_no_nan(1.0, norms)
    return k * inv[:, None] * inv[None, :]


class Prepared(NamedTuple):
    """A rule's validated input: see `prepare`."""

    grads: tf.Tensor
    present: tf.Tensor
    k: tf.Tensor
    log2_scale: tf.Tensor
    finite: tf.Tensor


def prepare(grads, present, rule: str) -> Prepared:
    """Validates a rule's input and forms its normalised Gram matrix.

    Args:
        grads: `(num_tasks, dim)` gradients (anything convertible to float32).
        present: Optional `(num_tasks,)` 0/1 mask.
        rule: The rule's name, for error messages.

    Returns:
        A `Prepared` with the float32 matrix and mask, `k` and `log2_scale`
        from `scaled_gram`, and `finite`: a scalar bool, False if a present
        row holds NaN or inf (only possible in graphs: eagerly that raises);
        then `k` and `present` are zero, so solvers take their trivial path.

    Raises:
        ValueError: For a malformed matrix or mask (see `as_matrix`,
            `as_present`) and, eagerly, for NaN or inf in a present row.
    """
    grads = as_matrix(grads)
    present = as_present(present, grads)
    k, p = scaled_gram(grads, present)
    diag = tf.linalg.diag_part(k)
    finite = tf.reduce_all(tf.math.is_finite(diag))
    if tf.executing_eagerly() and not bool(finite):
        bad = [int(i) for i in tf.where(~tf.math.is_finite(diag))[:, 0].numpy()]
        raise ValueError(
            f"Expected finite gradients for {rule}. Received: NaN or inf in row(s) {bad} "
            "of the gradient matrix (tasks that are present)."
        )
    # Non-finite input (graphs only): the solvers see a zero matrix and no
    # task present (their fast trivial path), as in the training step.
    return Prepared(grads, tf.where(finite, present, 0.0), tf.where(finite, k, 0.0), p, finite)


def finish(weights, prep: Prepared):
    """`(direction, weights)` of a rule whose direction is `sum_i w_i g_i`.

    Absent tasks get weight 0; on non-finite input (graphs only) both are
    zero: the documented zero update, never a NaN direction.
    """
    weights = tf.where(tf.logical_and(prep.finite, prep.present > 0), weights, 0.0)
    direction = weighted_sum(weights, prep.grads, prep.present)
    return tf.where(prep.finite, direction, 0.0), weights


def as_int(value):
    """An int32 tensor: solver caps passed as tensors compile once, not per value."""
    return tf.constant(int(value), tf.int32)


def as_float(value):
    """A float32 tensor (tolerances and hyperparameters given to compiled solvers)."""
    return tf.constant(float(value), tf.float32)


def warn_if_unconverged(converged, rule: str, detail: str) -> None:
    """Eagerly, warns when a solver stopped at its iteration cap.

    Inside graphs nothing is reported (a compiled training step cannot
    print without slowing down); the caps are set so that this does not
    happen on the cases the tests cover.
    """
    if tf.executing_eagerly() and not bool(converged):
        warnings.warn(f"{rule}: the solver stopped at its iteration cap before its "
                      f"optimality certificate was met ({detail}); the result is approximate.",
                      RuntimeWarning, stacklevel=3)
