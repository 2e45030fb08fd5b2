"""OL-AUX: auxiliary task weights learned online from gradient alignment.

Lin, Baweja, Kantor and Held, "Adaptive Auxiliary Task Weighting for
Reinforcement Learning", NeurIPS 2019.

The model follows `d = g_main + sum_a w_a g_a` (main gradients summed, each
auxiliary gradient weighted by `w_a`). The weights should make the main loss
fall over the next steps. To first order, `N` steps of gradient descent with
step size `alpha` change the main loss by `-alpha sum_j g_main(j) . d(j)`, so

    dL_main(theta_{t+N}) / dw_a  ~=  -alpha sum_{j=t}^{t+N-1} g_main(j) . g_a(j)

and every `N` steps the weights take one gradient-descent step on it:

    w_a <- w_a + learning_rate * sum_j g_main(j) . g_a(j)

(`learning_rate` stands for the paper's `alpha * beta`). An auxiliary task
whose gradient keeps agreeing with the main tasks' gains weight; one that
keeps conflicting loses it.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from mtl_keras._validators import check_int, check_number
from mtl_keras.weighting import SharedGradientWeighting
from mtl_keras.weighting.gcs import auxiliary_flags, auxiliary_mask
from mtl_keras.weighting.numerics import finish, prepare, scale_pow2

__all__ = ["OLAux", "ol_aux"]


def ol_aux(grads, auxiliary, aux_weights, present=None):
    """One OL-AUX step: the combined direction and the alignments of this step.

    Args:
        grads: `(num_tasks, dim)` per-task gradients.
        auxiliary: `(num_tasks,)` bools (or 0/1): True for an auxiliary task.
            At least one task must be auxiliary and one main.
        aux_weights: `(num_tasks,)` current weights; only the auxiliary
            entries are read (main tasks have weight 1).
        present: Optional `(num_tasks,)` 0/1 mask; absent tasks are left out.

    Returns:
        `(direction (dim,), weights (num_tasks,), alignment (num_tasks,))`:
        `direction = weights @ grads`, and `alignment_a = g_main . g_a` for
        each present auxiliary task (0 elsewhere), with `g_main` the sum of
        the present main tasks' gradients: what `OLAux` accumulates.

    Raises:
        ValueError: For a malformed matrix, mask or `auxiliary`, and (eagerly)
            NaN or inf in a present row; in a graph such input gives the zero
            update and zero alignments.

    Example:

    >>> d, w, a = ol_aux([[1.0, 0.0], [2.0, 1.0], [-1.0, 3.0]], [False, True, True],
    ...                  [1.0, 0.5, 0.5])
    >>> [float(v) for v in w], [float(v) for v in d], [float(v) for v in a]
    ([1.0, 0.5, 0.5], [1.5, 2.0], [0.0, 2.0, -1.0])
    """
    prep = prepare(grads, present, "ol_aux")
    aux = auxiliary_mask(auxiliary, prep.grads.shape[0], "ol_aux")
    aux_weights = tf.convert_to_tensor(aux_weights, tf.float32)
    main = prep.present * (1.0 - aux)
    weights = main + aux * prep.present * aux_weights
    direction, weights = finish(weights, prep)
    # g_main . g_i from the power-of-two-normalised Gram matrix: K = 4^p k.
    cross = tf.linalg.matvec(prep.k, main)
    alignment = scale_pow2(cross, 2 * prep.log2_scale) * aux * prep.present
    return direction, weights, tf.where(prep.finite, alignment, 0.0)


@keras.saving.register_keras_serializable(package="mtl_keras")
class OLAux(SharedGradientWeighting):
    """OL-AUX (Lin et al., NeurIPS 2019) as a `compile(weighting=...)` strategy.

    Each step follows `g_main + sum_a w_a g_a` (see `ol_aux`) and adds
    `g_main . g_a` to a running sum; every `update_every` steps each
    auxiliary weight moves by `learning_rate` times that sum (one
    gradient-descent step on the first-order change of the main loss over
    those steps) and the sums restart. Which tasks are auxiliary comes from
    the tasks' `auxiliary` flag when the model is compiled. The weights, the
    sums and the step counter are Keras variables: saved in `.keras` files
    and checkpoints, so a resumed run continues where it stopped.

    The update uses raw inner products, as the paper does: its size scales
    with the squared gradient norms, so choose `learning_rate` for your
    losses' scale (the logged `<task>_weight` shows how fast the weights
    move).

    Args:
        mode: `"parameters"` (default) or `"representation"`.
        update_every: `N`, the number of steps between weight updates (>= 1).
        learning_rate: Step size of the weight update (the paper's `alpha *
            beta`), > 0.
        initial_weight: Weight of every auxiliary task before the first
            update, >= 0.
        nonnegative: Keep the weights >= 0 (a projected step): a negative
            weight would climb the auxiliary loss. False follows the paper's
            unconstrained update.

    Raises:
        ValueError: For bad arguments, and at compile time when no task is
            auxiliary.

    Example:

    >>> import mtl_keras as mtl
    >>> strategy = mtl.weighting.OLAux(update_every=2, learning_rate=0.5)
    >>> strategy.build_for_tasks([mtl.Task("main", "regression"),
    ...                           mtl.Task("aux", "regression", auxiliary=True)])
    >>> grads = [[1.0, 0.0], [2.0, 1.0]]            # g_main . g_aux = 2 each step
    >>> for _ in range(2):
    ...     _ = strategy.combine_gradients(grads, [1.0, 1.0])
    >>> [float(w) for w in strategy.aux_weights.numpy()]   # 1 + 0.5 * (2 + 2)
    [1.0, 3.0]
    """

    def __init__(self, mode: str = "parameters", update_every: int = 5,
                 learning_rate: float = 0.1, initial_weight: float = 1.0,
                 nonnegative: bool = True, **kwargs):
        super().__init__(mode=mode, **kwargs)
        self.update_every = check_int(update_every, "update_every", min_value=1)
        self.learning_rate = check_number(learning_rate, "learning_rate", min_value=0,
                                          min_exclusive=True)
        self.initial_weight = check_number(initial_weight, "initial_weight", min_value=0)
        if not isinstance(nonnegative, bool):
            raise TypeError(
                f"Expected nonnegative to be True or False. Received: nonnegative={nonnegative!r}")
        self.nonnegative = nonnegative
        self._auxiliary: tuple[bool, ...] = ()

    def build(self, input_shape=None):
        self._auxiliary = tuple(auxiliary_flags(self))
        initial = [self.initial_weight if a else 1.0 for a in self._auxiliary]
        self.step = self.add_step_counter()
        self.aux_weights = self.add_weight(
            shape=(self.num_tasks,), initializer=keras.initializers.Constant(initial),
            trainable=False, name="aux_weights", aggregation="only_first_replica")
        self.alignment = self.add_weight(
            shape=(self.num_tasks,), initializer="zeros", trainable=False,
            name="alignment", aggregation="only_first_replica")

    def combine_gradients(self, grads, present, losses=None):
        aux = tf.constant([float(a) for a in self._auxiliary])
        direction, weights, alignment = ol_aux(grads, list(self._auxiliary),
                                               self.aux_weights.value, present)
        # A step without any task present (e.g. a skipped non-finite step)
        # leaves the state alone; the others count towards `update_every`.
        counted = tf.reduce_any(tf.convert_to_tensor(present, tf.float32) > 0)
        step = self.step.value + tf.cast(counted, tf.int64)
        total = self.alignment.value + alignment
        due = tf.logical_and(counted, tf.equal(step % self.update_every, 0))
        moved = self.aux_weights.value + self.learning_rate * total
        if self.nonnegative:
            moved = tf.maximum(moved, 0.0)
        self.aux_weights.assign(tf.where(tf.logical_and(due, aux > 0), moved,
                                         self.aux_weights.value))
        self.alignment.assign(tf.where(due, tf.zeros_like(total), total))
        self.step.assign(step)
        return direction, weights

    def get_config(self):
        config = super().get_config()
        config.update(update_every=self.update_every, learning_rate=self.learning_rate,
                      initial_weight=self.initial_weight, nonnegative=self.nonnegative)
        return config
