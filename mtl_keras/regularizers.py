"""Soft-sharing penalties: regularizers that couple the weights of parallel towers.

A Keras `Regularizer` sees one weight. A *tower coupling* sees a **group** of
corresponding weights, one per task tower, and penalizes how far they are
from each other. Groups are declared by position in towers of identical
structure (every trainable weight, or the weights of the sublayers named in
`layers`), so a coupling is fully described by its constructor arguments and
serializes like any Keras object. `mtl_keras.layers.ParallelTowers` resolves
the groups when it is built (raising on towers of different structure or on
an unknown layer name) and reports the penalty in `model.losses`, so it is
added to the optimized loss and logged as `soft_sharing_loss`.

Two penalties are provided:

* `L2Coupling` (Duong et al., ACL 2015): squared Frobenius distance of each
  tower's weight to the mean of the group.
* `TraceNormCoupling` (Yang & Hospedales, ICLR 2017 workshop): nuclear norm of
  the matrix that stacks each tower's flattened weight.

Both are summed over groups (not averaged), like `keras.regularizers.L2`.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import keras
from keras import ops

from mtl_keras import _keras_internals as internals


class TowerCoupling:
    """Base of the penalties that couple corresponding weights of parallel towers.

    Subclasses implement `group_penalty(stacked)` for one group, given as a
    float32 matrix `(num_towers, num_params)` whose row `t` is tower `t`'s
    flattened weight; the total penalty is
    `strength * sum over groups of group_penalty`.

    Args:
        strength: Non-negative multiplier of the penalty. `0` leaves the towers
            independent (no penalty term is added at all).
        layers: Optional names of sublayers of the towers (e.g. `["dense_0"]`
            for an `MLP` tower) whose trainable weights are coupled. Default
            `None`: every trainable weight of the towers, matched by position.

    Raises:
        ValueError: For a negative or non-finite strength, or an empty or
            non-string entry in `layers`.
    """

    def __init__(self, strength: float = 0.01, layers: Sequence[str] | None = None):
        try:
            value = float(strength)
        except (TypeError, ValueError):
            value = float("nan")
        if not math.isfinite(value) or value < 0:
            raise ValueError(
                f"Expected strength to be a finite number >= 0. Received: strength={strength!r}"
            )
        if layers is not None:
            if isinstance(layers, str) or not all(isinstance(n, str) and n for n in layers):
                raise ValueError(
                    "Expected layers to be None or a list of sublayer names. "
                    f"Received: layers={layers!r}"
                )
            layers = list(layers)
            if not layers:
                raise ValueError("Expected layers to be None or a non-empty list. Received: []")
        self.strength = value
        self.layers = layers

    # ------------------------------------------------------------- groups
    def resolve_groups(self, towers: Sequence[keras.layers.Layer]) -> list[list[int]]:
        """Validates the towers and returns the coupled weight positions.

        Args:
            towers: The built towers, one per task, of identical structure.

        Returns:
            A list of positions into each tower's `trainable_weights`; the
            group of position `i` is `[tower.trainable_weights[i] for tower in towers]`.

        Raises:
            ValueError: Fewer than two towers, towers whose trainable weights
                differ in number or shape, or a name in `layers` that is not a
                sublayer of every tower.
        """
        towers = list(towers)
        if len(towers) < 2:
            raise ValueError(
                "Expected at least two towers to couple. Received: "
                f"{len(towers)} tower(s)"
            )
        signatures = [[tuple(w.shape) for w in t.trainable_weights] for t in towers]
        for tower, sig in zip(towers[1:], signatures[1:]):
            if sig != signatures[0]:
                raise ValueError(
                    "Expected towers of identical structure (the same trainable weight "
                    f"shapes in the same order) to couple. Received: {towers[0].name!r} "
                    f"has {signatures[0]}, {tower.name!r} has {sig}"
                )
        if self.layers is None:
            return list(range(len(signatures[0])))
        positions = None
        for tower in towers:
            found = []
            by_name = {layer.name: layer for layer in internals.sublayers(tower)}
            for name in self.layers:
                if name not in by_name:
                    raise ValueError(
                        f"Expected layers to name sublayers of every tower. Received: "
                        f"layer {name!r}, which does not exist in tower {tower.name!r}. "
                        f"Its sublayers are {sorted(by_name)}"
                    )
                ids = {id(w) for w in by_name[name].trainable_weights}
                if not ids:
                    raise ValueError(
                        f"Expected the coupled layer {name!r} to have trainable weights. "
                        f"Received: none in tower {tower.name!r}"
                    )
                found.extend(i for i, w in enumerate(tower.trainable_weights)
                             if id(w) in ids and i not in found)
            if positions is None:
                positions = found
            elif found != positions:
                raise ValueError(
                    f"Expected the layers {self.layers} to sit at the same position in "
                    f"every tower. Received: positions {positions} in {towers[0].name!r} "
                    f"and {found} in {tower.name!r}"
                )
        return sorted(positions)

    # ------------------------------------------------------------- penalty
    def group_penalty(self, stacked):
        """Penalty of one group `(num_towers, num_params)`. Must be overridden."""
        raise NotImplementedError

    def __call__(self, groups: Sequence[Sequence[Any]]):
        """Returns `strength * sum_g group_penalty(stack(group_g))`.

        Args:
            groups: A list of groups; each group is a list of corresponding
                weights (variables or tensors of one shape), one per tower.

        Returns:
            A float32 scalar.
        """
        total = ops.convert_to_tensor(0.0, "float32")
        for group in groups:
            stacked = ops.stack(
                [ops.reshape(ops.cast(w, "float32"), (-1,)) for w in group], axis=0
            )
            total = total + self.group_penalty(stacked)
        return self.strength * total

    # ------------------------------------------------------- serialization
    def get_config(self) -> dict:
        return {"strength": self.strength, "layers": self.layers}

    @classmethod
    def from_config(cls, config: dict) -> "TowerCoupling":
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}(strength={self.strength}, layers={self.layers})"


@keras.saving.register_keras_serializable(package="mtl_keras")
class L2Coupling(TowerCoupling):
    """L2 soft sharing: squared Frobenius distance of each tower to the group mean.

    Duong, Cohn, Bird & Cook, "Low Resource Dependency Parsing: Cross-lingual
    Parameter Sharing in a Neural Network Parser", ACL 2015.

    For a group of corresponding weights `W_1 ... W_T` (one per tower) with
    mean `W_bar = (1/T) sum_t W_t`:

        Omega = strength * sum_t ||W_t - W_bar||_F^2
              = strength * (1/T) * sum_{s<t} ||W_s - W_t||_F^2

    i.e. *to the mean*, which equals the pairwise form divided by `T`. For two
    towers it is `strength / 2 * ||W_1 - W_2||_F^2` (Duong et al. use
    `lambda * ||W_1 - W_2||_F^2`, so `strength = 2 * lambda` reproduces them).
    The gradient w.r.t. `W_t` is `2 * strength * (W_t - W_bar)`.

    Args:
        strength: Non-negative multiplier; 0 leaves the towers independent.
        layers: Optional sublayer names whose weights are coupled (default: all).

    Example:

    >>> import numpy as np
    >>> reg = L2Coupling(strength=1.0)
    >>> float(reg([[np.array([1.0, 2.0]), np.array([3.0, 6.0])]]))
    10.0
    """

    def group_penalty(self, stacked):
        centered = stacked - ops.mean(stacked, axis=0, keepdims=True)
        return ops.sum(ops.square(centered))


@keras.saving.register_keras_serializable(package="mtl_keras")
class TraceNormCoupling(TowerCoupling):
    """Trace-norm soft sharing: nuclear norm of the stacked tower weights.

    Yang & Hospedales, "Trace Norm Regularised Deep Multi-Task Learning",
    ICLR 2017 (workshop track).

    For a group of corresponding weights, stack the flattened weights as the
    rows of `M = [vec(W_1); ...; vec(W_T)]` (shape `(T, num_params)`):

        Omega = strength * ||M||_* = strength * sum_i sigma_i(M)

    A low-rank `M` means the towers' weights are linear combinations of few
    shared ones. The (sub)gradient is `strength * U V^T` from the thin SVD
    `M = U diag(sigma) V^T`; it is used as the gradient, so the penalty stays
    differentiable when singular values coincide or vanish (e.g. when the
    towers have become identical).

    Args:
        strength: Non-negative multiplier; 0 leaves the towers independent.
        layers: Optional sublayer names whose weights are coupled (default: all).

    Example:

    >>> import numpy as np
    >>> reg = TraceNormCoupling(strength=1.0)
    >>> round(float(reg([[np.array([3.0, 0.0]), np.array([0.0, 4.0])]])), 4)
    7.0
    """

    def group_penalty(self, stacked):
        return _nuclear_norm(stacked)


@ops.custom_gradient
def _nuclear_norm(matrix):
    u, s, vt = ops.svd(matrix, full_matrices=False)

    def grad(*args, upstream=None):
        if upstream is None:
            (upstream,) = args
        return upstream * ops.matmul(u, vt)

    return ops.sum(s), grad


_ALIASES = {"l2": L2Coupling, "trace_norm": TraceNormCoupling, "tracenorm": TraceNormCoupling}


def get(identifier: Any) -> TowerCoupling | None:
    """Resolves a coupling identifier.

    Args:
        identifier: `None`, `"l2"`, `"trace_norm"` (default strength), a
            `TowerCoupling`, or its serialized dict.

    Returns:
        A `TowerCoupling`, or `None`.

    Raises:
        ValueError: For an unknown name.
        TypeError: For anything else.

    Example:

    >>> get("l2")
    L2Coupling(strength=0.01, layers=None)
    """
    if identifier is None or isinstance(identifier, TowerCoupling):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower().replace("-", "_")
        if key not in _ALIASES:
            raise ValueError(
                f"Unknown tower coupling {identifier!r}. Expected one of "
                f"{sorted(_ALIASES)} or a `TowerCoupling` instance."
            )
        return _ALIASES[key]()
    if isinstance(identifier, dict) and "class_name" in identifier:
        obj = keras.saving.deserialize_keras_object(identifier)
        if isinstance(obj, TowerCoupling):
            return obj
    raise TypeError(
        "Expected coupling to be None, 'l2', 'trace_norm', a `TowerCoupling` or its "
        f"serialized dict. Received: {identifier!r}"
    )


def serialize(coupling: TowerCoupling | None):
    """The config dict of a coupling (or `None`)."""
    return None if coupling is None else keras.saving.serialize_keras_object(coupling)


__all__ = ["L2Coupling", "TowerCoupling", "TraceNormCoupling", "get", "serialize"]
