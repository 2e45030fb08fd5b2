"""Loss weighting: how per-task losses (or gradients) become one update.

`get(identifier, tasks)` resolves what `MultiTaskModel.compile(weighting=...)`
accepts: `None` (static weights from the tasks), a method name, a dict of
static weights, or a `Weighting` instance.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from mtl_keras.weighting.base import (
    GradientWeighting, LossWeighting, SharedGradientWeighting, Weighting,
)
from mtl_keras.weighting.aligned_mtl import AlignedMTL, aligned_mtl
from mtl_keras.weighting.cagrad import CAGrad, cagrad
from mtl_keras.weighting.graddrop import GradDrop, graddrop
from mtl_keras.weighting.gradnorm import GradNorm, gradnorm
from mtl_keras.weighting.gradvac import GradVac, gradvac
from mtl_keras.weighting.imtl_g import IMTLG, imtl_g
from mtl_keras.weighting.mgda import MGDA, mgda
from mtl_keras.weighting.nash_mtl import NashMTL, nash_mtl
from mtl_keras.weighting.pcgrad import PCGrad, pcgrad
from mtl_keras.weighting.upgrad import UPGrad, upgrad
from mtl_keras.weighting.dbmtl import DualBalancingLossScale
from mtl_keras.weighting.dwa import DynamicWeightAverage
from mtl_keras.weighting.famo import FAMO
from mtl_keras.weighting.gls import GeometricLossStrategy
from mtl_keras.weighting.rlw import RandomLossWeighting
from mtl_keras.weighting.static import StaticWeighting
from mtl_keras.weighting.uncertainty import UncertaintyWeighting
# Auxiliary-task methods (they read the tasks' `auxiliary` flags).
from mtl_keras.weighting.gcs import GCS, gcs
from mtl_keras.weighting.ol_aux import OLAux, ol_aux

# name -> factory; each method module registers itself here.
_REGISTRY: dict[str, Callable[[], Weighting]] = {
    "static": StaticWeighting,
    "equal": StaticWeighting,
    "uncertainty": UncertaintyWeighting,
    "dwa": DynamicWeightAverage,
    "rlw": RandomLossWeighting,
    "gls": GeometricLossStrategy,
    "famo": FAMO,
    "dbmtl": DualBalancingLossScale,
}


# Gradient-combination methods (mtl_keras/gradient_step.py runs them).
_REGISTRY.update({
    "gradnorm": GradNorm,
    "mgda": MGDA,
    # MGDA-UB (Sener & Koltun, NeurIPS 2018): MGDA on the gradients w.r.t. the
    # shared representation; it saves and loads as `MGDA(mode="representation")`.
    "mgda_ub": functools.partial(MGDA, mode="representation"),
    "pcgrad": PCGrad,
    "graddrop": GradDrop,
    "gradvac": GradVac,
    "imtl_g": IMTLG,
    "cagrad": CAGrad,
    "nash_mtl": NashMTL,
    "aligned_mtl": AlignedMTL,
    "upgrad": UPGrad,
})
# Auxiliary-task methods (they refuse a model without auxiliary tasks).
_REGISTRY.update({
    "gcs": GCS,
    # GCS's weighted variant; it saves and loads as `GCS(weighted=True)`.
    "gcs_weighted": functools.partial(GCS, weighted=True),
    "ol_aux": OLAux,
})


def register(name: str, factory: Callable[[], Weighting]) -> None:
    """Makes `compile(weighting=name)` build `factory()`."""
    _REGISTRY[name] = factory


def available() -> list[str]:
    """Names `compile(weighting=...)` accepts."""
    return sorted(_REGISTRY)


def get(identifier: Any) -> Weighting:
    """Resolves a weighting identifier into a fresh `Weighting`.

    Raises:
        ValueError: For an unknown name (the message lists the known ones).
        TypeError: For anything that is not a name, dict or `Weighting`.
    """
    import keras

    if identifier is None:
        return StaticWeighting()
    if isinstance(identifier, Weighting):
        return identifier
    if isinstance(identifier, dict):
        if "class_name" in identifier and "config" in identifier:
            obj = keras.saving.deserialize_keras_object(identifier)
            if not isinstance(obj, Weighting):
                raise TypeError(f"Expected a serialized Weighting. Received: {identifier!r}")
            return obj
        return StaticWeighting(identifier)
    if isinstance(identifier, str):
        key = identifier.lower().replace("-", "_")
        if key not in _REGISTRY:
            raise ValueError(
                f"Unknown weighting method {identifier!r}. Expected one of "
                f"{available()}, a dict of static weights or a `Weighting` instance."
            )
        return _REGISTRY[key]()
    raise TypeError(
        "Expected weighting to be a method name, a dict {task: weight} or a "
        f"`mtl_keras.weighting.Weighting`. Received: {identifier!r}"
    )


__all__ = [
    "AlignedMTL",
    "CAGrad",
    "GradDrop",
    "GradNorm",
    "GCS",
    "GradVac",
    "IMTLG",
    "MGDA",
    "NashMTL",
    "OLAux",
    "PCGrad",
    "UPGrad",
    "aligned_mtl",
    "cagrad",
    "graddrop",
    "gradnorm",
    "gcs",
    "gradvac",
    "imtl_g",
    "mgda",
    "nash_mtl",
    "ol_aux",
    "pcgrad",
    "upgrad",
    "DualBalancingLossScale",
    "DynamicWeightAverage",
    "FAMO",
    "GeometricLossStrategy",
    "GradientWeighting",
    "SharedGradientWeighting",
    "RandomLossWeighting",
    "UncertaintyWeighting",
    "LossWeighting",
    "StaticWeighting",
    "Weighting",
    "available",
    "get",
    "register",
]
