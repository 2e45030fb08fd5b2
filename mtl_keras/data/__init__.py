"""Data: bundled datasets, pipelines and samplers."""

from mtl_keras.data.multifashion import (
    load_fashion_mnist,
    load_multifashion,
    multifashion_tasks,
)
from mtl_keras.data.penguins import PenguinsData, load_penguins, penguins_tasks
from mtl_keras.data.sampler import TaskSampler, mix_datasets
from mtl_keras.data.tables import DataSpec, TableData
from mtl_keras.data.tfds import tfds_dataset

__all__ = [
    "DataSpec",
    "PenguinsData",
    "TableData",
    "TaskSampler",
    "load_fashion_mnist",
    "load_multifashion",
    "load_penguins",
    "mix_datasets",
    "multifashion_tasks",
    "penguins_tasks",
    "tfds_dataset",
]
