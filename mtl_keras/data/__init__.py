"""Data: bundled datasets, pipelines and samplers."""

from mtl_keras.data.penguins import PenguinsData, load_penguins, penguins_tasks

__all__ = ["PenguinsData", "load_penguins", "penguins_tasks"]
