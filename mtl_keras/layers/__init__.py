"""Layers of mtl_keras: backbones, task heads and sharing units."""

from mtl_keras.layers.conv_encoder import ConvEncoder
from mtl_keras.layers.mlp import MLP
from mtl_keras.layers.task_head import TaskHead

__all__ = ["ConvEncoder", "MLP", "TaskHead"]
