"""Builders: one module per sharing architecture, each returning a `MultiTaskModel`."""

from mtl_keras.builders.cross_stitch import build_cross_stitch
from mtl_keras.builders.grouped import build_grouped
from mtl_keras.builders.hard_sharing import build_hard_sharing
from mtl_keras.builders.mmoe import build_mmoe
from mtl_keras.builders.ple import build_ple
from mtl_keras.builders.soft_sharing import build_soft_sharing

__all__ = [
    "build_cross_stitch",
    "build_grouped",
    "build_hard_sharing",
    "build_mmoe",
    "build_ple",
    "build_soft_sharing",
]
