"""Builders: one module per sharing architecture, each returning a `MultiTaskModel`."""

from mtl_keras.builders.hard_sharing import build_hard_sharing

__all__ = ["build_hard_sharing"]
