"""The data a verb runs on: the bundled penguins, or a user's table (a data spec).

A run config's `data:` is either the name `penguins` or a data spec dict
(`mtl_keras.data.DataSpec.from_dict`: sources, feature and target columns);
relative file paths in it are relative to the config file. `mtl-keras train`
writes the resolved spec (every feature's type and state, every task's kind
and classes) as `data_spec.json` next to `model.keras`, and the later verbs
(`evaluate`, `tune`, `export`, `predict`) read it from there, so they reuse the
training vocabularies and statistics exactly. Their `--data` flag takes
`penguins`, or a JSON/YAML file holding a data spec (or a run config whose
`data:` is one).

TensorFlow is imported only inside the functions (the parsers are built
without it).
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["DATASETS", "SPEC_FILENAME", "check_data", "data_name", "dataset", "is_table",
           "load_data", "load_model_data", "model_spec_path", "read_data_arg",
           "require_split", "splits"]

DATASETS = ("penguins",)
SPEC_FILENAME = "data_spec.json"


def is_table(data: Any) -> bool:
    """Whether `data` (a config's `data:` value, or what `load_data` returned) is a table."""
    return isinstance(data, dict) or type(data).__name__ == "TableData"


def check_data(value: Any, base_dir: str | None = None) -> None:
    """Checks a config's `data:` value without opening any file.

    Raises:
        ValueError, TypeError: Neither a known dataset name nor a valid data
            spec dict (the message names the field).
    """
    if isinstance(value, str):
        if value not in DATASETS:
            raise ValueError(
                f"Expected data to be one of {list(DATASETS)} or a data spec mapping "
                f"(source/train, targets, features, ...). Received: data={value!r}")
        return
    if not isinstance(value, dict):
        raise ValueError(
            f"Expected data to be one of {list(DATASETS)} or a data spec mapping (source/train, "
            f"targets, features, ...). Received: data={value!r}")
    from mtl_keras.data import DataSpec

    try:
        DataSpec.from_dict(value, base_dir=base_dir)
    except (TypeError, ValueError) as e:
        raise type(e)(f"data: {e}") from None


def load_data(value: Any, seed: int = 0, base_dir: str | None = None):
    """`PenguinsData` for `"penguins"`, else the spec dict loaded (`TableData`).

    Loading a spec reads its sources once (statistics, checks): every data
    error is raised here, before any training.
    """
    check_data(value, base_dir)
    if isinstance(value, str):
        from mtl_keras.data import load_penguins

        return load_penguins(seed=seed)
    from mtl_keras.data import DataSpec

    return DataSpec.from_dict(value, base_dir=base_dir).load()


def data_name(value: Any) -> str:
    """A short name of a config's `data:` for messages (`penguins`, `CSV x.csv`)."""
    if isinstance(value, str):
        return value
    if type(value).__name__ == "TableData":
        reads = value.spec.reads()
        return reads[0].source.describe() if reads else "a table"
    return "a data spec"


def dataset(data, split: str, batch_size: int, tasks, seed: int = 0, shuffle=None,
            once: bool = False):
    """`data`'s split as `(features, {task: label})` batches of the tasks named `tasks`.

    `once`: the split is read at most once (evaluation, export checks), so a
    table's rows are not cached.
    """
    if is_table(data):
        return data.dataset(split, batch_size, shuffle=shuffle, seed=seed, tasks=tasks,
                            cache=False if once else None)
    return data.dataset(split, batch_size, shuffle=shuffle, tasks=tasks)


def splits(data) -> list[str]:
    """The splits `data` has (penguins: all three)."""
    return list(data.spec.splits) if is_table(data) else ["train", "validation", "test"]


def require_split(data, split: str, why: str) -> None:
    """Raises `ValueError` if `data` has no `split`."""
    have = splits(data)
    if split not in have:
        raise ValueError(
            f"Expected a {split} split in the data spec ({why}). Received a spec with the "
            f"splits {have}: add a '{split}' source, or a '{split}' fraction to the split.")


def model_spec_path(model_path: str) -> str | None:
    """The `data_spec.json` next to a `.keras` file, or None if there is none."""
    path = os.path.join(os.path.dirname(os.path.abspath(model_path)), SPEC_FILENAME)
    return path if os.path.isfile(path) else None


def read_data_arg(text: str, flag: str = "--data") -> Any:
    """`"penguins"`, or `(spec dict, base_dir)` from a JSON/YAML file given as `--data`.

    The file holds a data spec (such as a `data_spec.json` written by
    `mtl-keras train`) or a run config whose `data:` is one.

    Raises:
        FileNotFoundError, IsADirectoryError: Not a file.
        ValueError: Not JSON/YAML, or no data spec in it.
    """
    if text in DATASETS:
        return text
    from mtl_keras.commands._common import RunConfig

    expected = (f"Expected {flag} to be one of {list(DATASETS)} or a JSON/YAML file with a "
                "data spec (or a run config whose data: is one)")
    if os.path.isdir(text):
        raise IsADirectoryError(f"{expected}. Received: {text!r} is a directory.")
    if not os.path.isfile(text):
        raise FileNotFoundError(f"{expected}. Received: {text!r} does not exist.")
    raw = RunConfig.read_mapping(text, flag)
    spec = raw.get("data") if isinstance(raw.get("data"), dict) else raw
    if "targets" not in spec:
        raise ValueError(f"{expected}. Received: {text!r} with the keys {sorted(raw)} "
                         "(a data spec names its targets).")
    return spec, os.path.dirname(os.path.abspath(text))


def load_model_data(model_path: str, data_arg: str | None, seed: int = 0):
    """The data for a saved model: `--data` if given, else the spec next to the model.

    With neither, the bundled penguins (models trained on it have no spec).
    A saved spec is resolved, so it is loaded without reading any file.
    """
    if data_arg is None:
        spec_path = model_spec_path(model_path)
        if spec_path is None:
            return load_data("penguins", seed)
        from mtl_keras.data import DataSpec

        return DataSpec.read(spec_path).load(check=False)
    value = read_data_arg(data_arg)
    if isinstance(value, str):
        return load_data(value, seed)
    spec, base_dir = value
    from mtl_keras.data import DataSpec

    check_data(spec, base_dir)
    return DataSpec.from_dict(spec, base_dir=base_dir).load(check=False)

