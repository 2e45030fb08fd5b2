"""GradDrop: gradient sign dropout.

Chen, Ngiam, Huang, Luong, Kretzschmar, Chai and Anguelov, "Just Pick a Sign:
Optimizing Deep Multitask Models with Gradient Sign Dropout", NeurIPS 2020.
"""

from __future__ import annotations


import keras
import numpy as np
import tensorflow as tf

from mtl_keras._validators import check_number
from mtl_keras.weighting.base import SharedGradientWeighting
from mtl_keras.weighting.gradient_common import as_matrix, as_present, hashed_uniform


def graddrop(grads, present=None, seed=(0, 0), leak: float = 0.0):
    """Combines per-task gradients with GradDrop.

    Per coordinate, the sign purity `P = 1/2 (1 + sum_i g_i / sum_i |g_i|)`
    and one uniform draw `U` decide which sign survives:
    `M_i = [P > U] [g_i > 0] + [P < U] [g_i < 0]`, and the direction is the
    **sum** `sum_i (leak + (1 - leak) M_i) g_i`. Coordinates where every task
    agrees in sign are never dropped. The rule is coordinate-wise, not a
    weighted sum: the returned "weights" are the share of each task's
    gradient that was kept, `sum_j M_ij |g_ij| / sum_j |g_ij|` (its L1 mass;
    with `leak`, `leak + (1 - leak)` times that).

    Args:
        grads: `(num_tasks, dim)` per-task gradients.
        present: Optional `(num_tasks,)` 0/1 mask; absent tasks are left out.
        seed: Stateless seed (pair of ints or int64 `(2,)` tensor) of `U`.
        leak: In `[0, 1]`: the share of every gradient that always passes
            (0 is the paper's GradDrop, 1 is the plain sum).

    Returns:
        `(direction (dim,), kept_fraction (num_tasks,))`.

    Raises:
        ValueError: For a malformed matrix or mask or (eagerly) NaN or inf in
            a present row; in a graph such input gives the zero update.

    Scale: the purity `P` is a ratio, so the masks do not depend on the
    gradients' scale and the direction is homogeneous of degree 1
    (`graddrop(s G) = s graddrop(G)` with the same seed), exactly for powers
    of two. No solver, no epsilon: a coordinate where every gradient is
    exactly 0 has `P = 1/2` and contributes 0.

    Example:

    >>> d, kept = graddrop([[1.0, 2.0], [3.0, -2.0]], seed=(0, 0))
    >>> float(d[0])
    4.0
    """
    grads = as_matrix(grads)
    present = as_present(present, grads)
    grads = tf.where(present[:, None] > 0, grads, 0.0)     # absent rows: ignored
    magnitudes = tf.abs(grads)
    total = tf.reduce_sum(grads, 0)
    abs_total = tf.reduce_sum(magnitudes, 0)
    # A NaN or inf in a present row makes its column's absolute sum non-finite.
    finite = tf.reduce_all(tf.math.is_finite(abs_total))
    if tf.executing_eagerly() and not bool(finite):
        bad = np.flatnonzero(~np.isfinite(grads.numpy()).all(axis=1)).tolist()
        raise ValueError(
            f"Expected finite gradients for graddrop. Received: NaN or inf in row(s) {bad} "
            "of the gradient matrix (tasks that are present)."
        )
    purity = 0.5 * (1.0 + tf.math.divide_no_nan(total, abs_total))
    u = hashed_uniform(tf.shape(purity), seed)
    # The surviving sign per coordinate: +1 if P > U, -1 if P < U (0 if equal).
    sign = tf.sign(purity - u)
    used = tf.abs(sign)
    # Summed over tasks, the parts of sign s are (|g| + s g) / 2, so the
    # direction comes from the column sums already computed: no mask matrix.
    direction = 0.5 * (sign * abs_total + used * total)
    # The same identity per task gives the kept L1 mass,
    # sum_j [s_j g_ij > 0] |g_ij| = sum_j (used_j |g_ij| + s_j g_ij) / 2.
    kept = 0.5 * (tf.linalg.matvec(magnitudes, used) + tf.linalg.matvec(grads, sign))
    kept_share = tf.math.divide_no_nan(kept, tf.reduce_sum(magnitudes, 1))
    if leak:
        direction = leak * total + (1.0 - leak) * direction
        kept_share = tf.where(tf.reduce_sum(magnitudes, 1) > 0,
                              leak + (1.0 - leak) * kept_share, 0.0)
    # Non-finite input (graphs only): the zero update.
    return (tf.where(finite, direction, 0.0),
            tf.where(tf.logical_and(finite, present > 0), kept_share, 0.0))


@keras.saving.register_keras_serializable(package="mtl_keras")
class GradDrop(SharedGradientWeighting):
    """GradDrop (Chen et al., NeurIPS 2020) as a `compile(weighting=...)` strategy.

    The paper applies it to the gradients at a shared activation layer, so
    `mode="representation"` is its setting; `"parameters"` applies the same
    coordinate-wise rule to the shared weights. Logged `<task>_weight` is the
    share of the task's gradient (L1 mass) that was kept.

    Args:
        mode: `"parameters"` (default) or `"representation"`.
        leak: Share of every gradient that always passes, in `[0, 1]`.
        seed: Optional int seed (random if None); the step counter is folded in.

    Example:

    >>> import mtl_keras as mtl
    >>> mtl.weighting.GradDrop(leak=0.2).get_config()["leak"]
    0.2
    """

    def __init__(self, mode: str = "parameters", leak: float = 0.0,
                 seed: int | None = None, **kwargs):
        super().__init__(mode=mode, **kwargs)
        self.leak = check_number(leak, "leak", min_value=0, max_value=1)
        self.set_seed(seed)

    def combine_gradients(self, grads, present, losses=None):
        return graddrop(grads, present, seed=self.next_seed(), leak=self.leak)

    def get_config(self):
        config = super().get_config()
        config["leak"] = self.leak
        return config
