"""`PenaltyLayer`: a layer with a training penalty that is logged under its own name."""

from __future__ import annotations

import keras


class PenaltyLayer(keras.layers.Layer):
    """Base of layers whose weights carry a training-only penalty.

    The penalty is computed from the current weights by an explicit call to
    `penalty()`: `MultiTaskModel` calls it once per training and evaluation
    step, adds it to the optimized loss and logs it as `penalty_log_name`.
    Reading `layer.losses` (or the model's `losses`) includes it too, like a
    Keras weight regularizer; it is never part of the inference graph, so
    exported models do not contain it.

    Subclasses implement `penalty()` and `penalty_log_name`.
    """

    @property
    def penalty_log_name(self) -> str | None:
        """History key of the penalty (e.g. `"soft_sharing_loss"`); None: not logged."""
        raise NotImplementedError

    def penalty(self):
        """The penalty of the current weights (a scalar tensor), or None for none."""
        raise NotImplementedError

    @property
    def losses(self):
        losses = super().losses
        value = self.penalty()
        return losses if value is None else losses + [value]


__all__ = [
    "PenaltyLayer",
]
