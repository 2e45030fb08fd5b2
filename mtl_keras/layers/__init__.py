"""Layers of mtl_keras: backbones, task heads and sharing units."""

from mtl_keras.layers.cgc import CGC
from mtl_keras.layers.conv_encoder import ConvEncoder
from mtl_keras.layers.cross_stitch import CrossStitch
from mtl_keras.layers.expert_gate import ExpertGate
from mtl_keras.layers.mlp import MLP
from mtl_keras.layers.mmoe import MMoE
from mtl_keras.layers.parallel_towers import ParallelTowers
from mtl_keras.layers.penalty_layer import PenaltyLayer
from mtl_keras.layers.task_head import TaskHead

__all__ = [
    "CGC",
    "ConvEncoder",
    "CrossStitch",
    "ExpertGate",
    "MLP",
    "MMoE",
    "ParallelTowers",
    "PenaltyLayer",
    "TaskHead",
]
