"""Palmer penguins as a three-task problem: the embedded default data.

Horst, Hill & Gorman (2020), palmerpenguins: Palmer Archipelago (Antarctica)
penguin data, doi:10.5281/zenodo.3960218. Data CC0, shipped by the PyPI
package `palmerpenguins` (read from its bundled CSV: nothing is downloaded).

Tasks, from the bill length, bill depth, flipper length (inputs
`"measurements"`, in mm) and the island (input `"island"`, one-hot):

* `species`: multiclass, Adelie / Chinstrap / Gentoo;
* `sex`: binary, female 0 / male 1; the 9 birds with measurements but no
  recorded sex have label -1, which masks them out of this task only;
* `body_mass`: regression, in kilograms.

The 2 rows without measurements are dropped (342 remain). The split is a seeded
permutation: 70% train, 15% validation, 15% test. The `Normalization` layer of
`preprocessing()` is adapted on the training split only.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib.resources
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from mtl_keras.tasks import Task

SPECIES = ("Adelie", "Chinstrap", "Gentoo")
ISLANDS = ("Biscoe", "Dream", "Torgersen")
MEASUREMENTS = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm")


def penguins_tasks() -> list[Task]:
    """The three penguin tasks with their default losses and metrics."""
    return [
        Task("species", "multiclass", num_classes=3),
        Task("sex", "binary"),
        Task("body_mass", "regression"),
    ]


def _read_rows():
    try:
        ref = importlib.resources.files("palmerpenguins") / "data" / "penguins.csv"
        text = ref.read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as e:
        raise RuntimeError(
            "The penguins data ships with the PyPI package `palmerpenguins`: "
            "`pip install palmerpenguins` (a dependency of mtl_keras)."
        ) from e
    return list(csv.DictReader(text.splitlines()))


def _to_arrays(rows):
    measurements, island, species, sex, mass = [], [], [], [], []
    for row in rows:
        if any(row[c] in ("", "NA") for c in MEASUREMENTS + ("body_mass_g",)):
            continue
        measurements.append([float(row[c]) for c in MEASUREMENTS])
        island.append([1.0 if row["island"] == i else 0.0 for i in ISLANDS])
        species.append(SPECIES.index(row["species"]))
        sex.append({"female": 0, "male": 1}.get(row["sex"], -1))
        mass.append(float(row["body_mass_g"]) / 1000.0)
    features = {
        "measurements": np.asarray(measurements, "float32"),
        "island": np.asarray(island, "float32"),
    }
    labels = {
        "species": np.asarray(species, "int32"),
        "sex": np.asarray(sex, "int32"),
        "body_mass": np.asarray(mass, "float32"),
    }
    return features, labels


@dataclasses.dataclass
class Split:
    """One split: `features` and `labels` dicts of NumPy arrays."""

    features: dict
    labels: dict

    def __len__(self):
        return len(next(iter(self.labels.values())))


@dataclasses.dataclass
class PenguinsData:
    """The three splits, the tasks and the train-adapted normalization."""

    train: Split
    validation: Split
    test: Split
    tasks: list
    seed: int

    def inputs(self) -> dict:
        """`keras.Input` dict matching the features."""
        return {
            "measurements": keras.Input((len(MEASUREMENTS),), name="measurements"),
            "island": keras.Input((len(ISLANDS),), name="island"),
        }

    def preprocessing(self) -> dict:
        """`{"measurements": Normalization}` adapted on the training split only."""
        norm = keras.layers.Normalization(name="measurements_normalization")
        norm.adapt(self.train.features["measurements"])
        return {"measurements": norm}

    def dataset(self, split: str = "train", batch_size: int = 32, shuffle: bool | None = None,
                tasks: Sequence[str] | None = None) -> tf.data.Dataset:
        """A `tf.data.Dataset` of `(features, {task: label})` batches.

        Args:
            split: `"train"`, `"validation"` or `"test"`.
            batch_size: Batch size.
            shuffle: Shuffle each epoch (seeded); default True for train only.
            tasks: Only these tasks' labels (for single-task models).
        """
        if split not in ("train", "validation", "test"):
            raise ValueError(
                f"Expected split in ('train', 'validation', 'test'). Received: split={split!r}"
            )
        part = getattr(self, split)
        labels = part.labels if tasks is None else {t: part.labels[t] for t in tasks}
        ds = tf.data.Dataset.from_tensor_slices((part.features, labels))
        if shuffle if shuffle is not None else split == "train":
            ds = ds.shuffle(len(part), seed=self.seed, reshuffle_each_iteration=True)
        return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def load_penguins(seed: int = 0, fractions: Sequence[float] = (0.7, 0.15, 0.15)) -> PenguinsData:
    """Loads the penguin tasks with a deterministic train/validation/test split.

    Args:
        seed: Seed of the split permutation and of training-set shuffling.
        fractions: Train, validation and test fractions (summing to 1).

    Example:

    >>> import mtl_keras as mtl
    >>> data = mtl.data.load_penguins()
    >>> len(data.train), len(data.validation), len(data.test)
    (239, 51, 52)
    >>> int((data.train.labels["sex"] == -1).sum()) > 0
    True
    """
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(
            "Expected three positive fractions (train, validation, test) summing to 1. "
            f"Received: fractions={fractions}"
        )
    features, labels = _to_arrays(_read_rows())
    n = len(labels["species"])
    order = np.random.default_rng(seed).permutation(n)
    n_train = int(round(fractions[0] * n))
    n_val = int(round(fractions[1] * n))
    idx = {"train": order[:n_train], "validation": order[n_train:n_train + n_val],
           "test": order[n_train + n_val:]}

    def take(i):
        return Split({k: v[i] for k, v in features.items()}, {k: v[i] for k, v in labels.items()})

    return PenguinsData(take(idx["train"]), take(idx["validation"]), take(idx["test"]),
                        penguins_tasks(), seed)
