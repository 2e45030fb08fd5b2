"""mtl_keras: multi-task learning on Keras 3.

Build a multi-output model with a shared backbone and one named head per task,
train it with `model.fit` on `tf.data`, weight the task losses, tune the
weights with KerasTuner and export it for TF Serving and TFLite.
"""

from mtl_keras import backbones, builders, data, layers, regularizers, weighting
from mtl_keras import callbacks, exporters, plotting
from mtl_keras.builders import (
    build_cross_stitch,
    build_hard_sharing,
    build_mmoe,
    build_ple,
    build_soft_sharing,
)
from mtl_keras.metrics import TaskMeans
from mtl_keras.model import MultiTaskModel
from mtl_keras.tasks import KINDS, Task

__version__ = "0.1.0"


def __getattr__(name):
    # `mtl_keras.tuning` imports KerasTuner: load it on first use only.
    if name == "tuning":
        import importlib

        return importlib.import_module("mtl_keras.tuning")
    raise AttributeError(f"module 'mtl_keras' has no attribute {name!r}")


__all__ = [
    "KINDS",
    "MultiTaskModel",
    "Task",
    "TaskMeans",
    "backbones",
    "build_cross_stitch",
    "build_hard_sharing",
    "build_mmoe",
    "build_ple",
    "build_soft_sharing",
    "builders",
    "callbacks",
    "data",
    "exporters",
    "layers",
    "plotting",
    "regularizers",
    "tuning",
    "weighting",
]
