"""GCS: auxiliary gradients gated by their cosine with the main tasks' gradient.

Du, Czarnecki, Jayakumar, Farajtabar, Pascanu and Lakshminarayanan,
"Adapting Auxiliary Losses Using Gradient Similarity", arXiv:1812.02224, 2018.

An auxiliary task (`Task(..., auxiliary=True)`) is trained only to help the
main tasks. Its gradient on the shared parameters helps the main tasks to
first order only when it points into the same half-space as their gradient,
`cos(g_main, g_aux) > 0`; the rule uses it only then. The paper's two variants:

* unweighted: `d = g_main + sum_a [cos_a > 0] g_a`;
* weighted:   `d = g_main + sum_a max(cos_a, 0) g_a`;

with `g_main` the sum of the main tasks' gradients and `cos_a = cos(g_main,
g_a)`. The paper proves that the main loss then converges to a critical point
whatever the auxiliary losses do (a gated auxiliary gradient is never an
ascent direction of the main loss).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from mtl_keras.weighting import SharedGradientWeighting
from mtl_keras.weighting.gradient_common import safe_sqrt
from mtl_keras.weighting.numerics import finish, prepare

__all__ = ["GCS", "auxiliary_flags", "auxiliary_mask", "gcs"]


def auxiliary_mask(auxiliary, num_tasks: int, rule: str) -> tf.Tensor:
    """The float32 `(num_tasks,)` 0/1 mask of auxiliary tasks.

    Args:
        auxiliary: One bool (or 0/1) per task, True for an auxiliary task.
        num_tasks: The number of rows of the gradient matrix.
        rule: The rule's name, for error messages.

    Raises:
        ValueError: If the mask has the wrong length or, when its values are
            known (a Python sequence or an eager tensor), if it holds values
            other than 0/1 or marks no task, or every task, as auxiliary.
    """
    mask = tf.cast(tf.convert_to_tensor(auxiliary), tf.float32)
    if mask.shape.rank != 1 or mask.shape[0] not in (None, num_tasks):
        raise ValueError(
            f"Expected auxiliary to have shape ({num_tasks},), one flag per task. "
            f"Received: shape={mask.shape}")
    if tf.executing_eagerly() or not tf.is_tensor(auxiliary):
        values = tf.get_static_value(mask)
        if values is not None:
            if not ((values == 0) | (values == 1)).all():
                raise ValueError(
                    f"Expected auxiliary to hold True/False (or 1/0). "
                    f"Received: auxiliary={values.tolist()}")
            if not values.any() or values.all():
                raise ValueError(
                    f"Expected {rule} to get at least one auxiliary task and at least one "
                    f"main task. Received: auxiliary={values.astype(bool).tolist()}")
    return mask


def gcs(grads, auxiliary, present=None, weighted: bool = False):
    """Combines per-task gradients with GCS (gradient cosine similarity gating).

    `g_main = sum_m g_m` over the present main tasks; every present
    auxiliary task `a` gets weight `1` (unweighted) or `cos_a` (weighted)
    when `cos_a = cos(g_main, g_a) > 0`, else 0; main tasks get weight 1. The
    direction is `sum_i w_i g_i`. When no main task is present (or their
    gradients sum to zero) every cosine is 0: only main gradients, i.e. none,
    are used.

    Accuracy: exact up to float32 rounding (no solver). Scale: the weights
    are invariant and the direction homogeneous of degree 1 (`gcs(s G) = s
    gcs(G)`), exactly for powers of two: the cosines come from the
    power-of-two-normalised Gram matrix, with no epsilon (a gradient counts
    as zero only when it is exactly zero).

    Args:
        grads: `(num_tasks, dim)` per-task gradients.
        auxiliary: `(num_tasks,)` bools (or 0/1): True for an auxiliary task.
            At least one task must be auxiliary and one main.
        present: Optional `(num_tasks,)` 0/1 mask; absent tasks are left out.
        weighted: False for the paper's unweighted variant (keep or drop),
            True for the weighted one (scale by the cosine).

    Returns:
        `(direction (dim,), weights (num_tasks,))` with `direction = weights @ grads`.

    Raises:
        ValueError: For a malformed matrix, mask or `auxiliary`, and (eagerly)
            NaN or inf in a present row; in a graph such input gives the zero
            update.

    Example:

    >>> # main g0 = (1, 0); aux g1 = (1, 1) agrees (cos 0.7071), g2 = (-1, 1) conflicts.
    >>> d, w = gcs([[1.0, 0.0], [1.0, 1.0], [-1.0, 1.0]], [False, True, True])
    >>> [float(v) for v in w], [float(v) for v in d]
    ([1.0, 1.0, 0.0], [2.0, 1.0])
    >>> d, w = gcs([[1.0, 0.0], [1.0, 1.0], [-1.0, 1.0]], [False, True, True], weighted=True)
    >>> [round(float(v), 4) for v in w]
    [1.0, 0.7071, 0.0]
    """
    prep = prepare(grads, present, "gcs")
    aux = auxiliary_mask(auxiliary, prep.grads.shape[0], "gcs")
    weights = _gcs_weights(prep.k, prep.present, aux, bool(weighted))
    return finish(weights, prep)


def _gcs_weights(k, present, aux, weighted):
    main = present * (1.0 - aux)
    cross = tf.linalg.matvec(k, main)                  # g_main . g_i (normalised)
    main_norm = safe_sqrt(tf.reduce_sum(cross * main))
    norms = safe_sqrt(tf.linalg.diag_part(k))
    cos = tf.clip_by_value(tf.math.divide_no_nan(cross, main_norm * norms), -1.0, 1.0)
    gate = cos if weighted else tf.ones_like(cos)
    aux_weights = tf.where(cos > 0.0, gate, 0.0) * aux * present
    return main + aux_weights


def auxiliary_flags(strategy) -> list[bool]:
    """The tasks' `auxiliary` flags; raises unless some task is auxiliary.

    Args:
        strategy: A weighting strategy after `build_for_tasks` (its `tasks`
            are read), used by the auxiliary-learning methods in `build()`.

    Raises:
        ValueError: When no task is auxiliary.
    """
    flags = [t.auxiliary for t in strategy.tasks]
    if not any(flags):
        raise ValueError(
            f"{type(strategy).__name__} weighs auxiliary tasks against the main ones. "
            "Expected at least one task marked `Task(..., auxiliary=True)`. Received: "
            f"tasks {list(strategy.task_names)}, none auxiliary.")
    return flags


@keras.saving.register_keras_serializable(package="mtl_keras")
class GCS(SharedGradientWeighting):
    """GCS (Du et al., arXiv 2018) as a `compile(weighting=...)` strategy.

    Main tasks' gradients are summed; each auxiliary task's gradient is added
    only when its cosine with that sum is positive (and, with
    `weighted=True`, scaled by the cosine). Which tasks are auxiliary comes
    from the tasks' `auxiliary` flag when the model is compiled. Stateless.
    The logged `<task>_weight` of an auxiliary task is the share of steps
    (weighted: the mean cosine) its gradient was used.

    Args:
        mode: `"parameters"` (default) or `"representation"`.
        weighted: False (default): the paper's unweighted variant, which
            keeps or drops each auxiliary gradient; True: the weighted one,
            which scales it by the cosine.

    Raises:
        ValueError: At compile time, when no task is auxiliary.

    Example:

    >>> import keras, numpy as np, mtl_keras as mtl
    >>> tasks = [mtl.Task("target", "regression"),
    ...          mtl.Task("helper", "regression", auxiliary=True)]
    >>> model = mtl.build_hard_sharing(keras.Input((3,)), mtl.backbones.mlp([8]), tasks)
    >>> model.compile(optimizer="adam", weighting=mtl.weighting.GCS(weighted=True))
    >>> x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
    >>> y = {"target": x.sum(1), "helper": x[:, 0]}
    >>> logs = model.fit(x, y, batch_size=16, epochs=1, verbose=0).history
    >>> logs["target_weight"], 0.0 <= logs["helper_weight"][0] <= 1.0
    ([1.0], True)
    """

    def __init__(self, mode: str = "parameters", weighted: bool = False, **kwargs):
        super().__init__(mode=mode, **kwargs)
        if not isinstance(weighted, bool):
            raise TypeError(
                f"Expected weighted to be True or False. Received: weighted={weighted!r}")
        self.weighted = weighted
        self._auxiliary: tuple[bool, ...] = ()

    def build(self, input_shape=None):
        self._auxiliary = tuple(auxiliary_flags(self))

    def combine_gradients(self, grads, present, losses=None):
        return gcs(grads, list(self._auxiliary), present, weighted=self.weighted)

    def get_config(self):
        config = super().get_config()
        config["weighted"] = self.weighted
        return config


