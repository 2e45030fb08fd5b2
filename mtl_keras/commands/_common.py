"""Helpers shared by the `mtl-keras` verbs: run configs, data, models, reports.

Nothing here imports TensorFlow at module level: the verbs' parsers are built
(and `--help` answered) without it.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import sys
import zipfile
from typing import Any

from mtl_keras._validators import check_int, check_number, is_int, is_number
from mtl_keras.commands import _data

__all__ = ["ARCHITECTURES", "DATASETS", "RunConfig", "build_model", "load_data", "load_model",
           "select_tasks", "verbosity"]

DATASETS = _data.DATASETS
ARCHITECTURES = ("hard_sharing", "soft_sharing", "cross_stitch", "mmoe", "ple", "grouped")

# Backbone keys each architecture uses (see `RunConfig.backbone`). The gated-expert
# builders take the expert widths and activation only.
_MLP_KEYS = ("type", "units", "activation", "dropout", "batch_norm")
_BACKBONE_KEYS = {"hard_sharing": _MLP_KEYS, "soft_sharing": _MLP_KEYS,
                  "cross_stitch": _MLP_KEYS, "mmoe": ("type", "units", "activation"),
                  "ple": ("type", "units", "activation"), "grouped": _MLP_KEYS}


@dataclasses.dataclass
class RunConfig:
    """What `mtl-keras train` trains. Every field can come from a JSON/YAML file or a flag.

    Fields:
        data: Dataset name (`"penguins"`), or a data spec mapping (a user's
            table: `mtl_keras.data.DataSpec.from_dict`; relative paths are
            relative to the config file).
        tasks: List of task names to train (default: all of the dataset's tasks).
        backbone: `{"type": "mlp", "units": [64, 64]}`, optionally with
            `activation`, `dropout` and `batch_norm` (the MLP's arguments).
            For `hard_sharing` it is the shared trunk; for `soft_sharing` each
            task's tower; for `cross_stitch` one stage per width (a unit after
            each); for `mmoe` and `ple` each expert (`units`, `activation` only).
        architecture: One of `ARCHITECTURES`.
        groups: For `grouped` only: a partition of the tasks, such as
            `[[species, sex], [body_mass]]` (one backbone per group; written
            by `mtl-keras affinity`).
        weighting: A method name, or a dict `{task: weight}` of static weights.
        epochs, batch_size, learning_rate, seed: Training settings.
        out: Output directory (the model is saved as `<out>/model.keras`).
    """

    data: Any = "penguins"
    tasks: list | None = None
    backbone: dict = dataclasses.field(default_factory=lambda: {"type": "mlp", "units": [64, 64]})
    architecture: str = "hard_sharing"
    groups: list | None = None
    weighting: Any = None
    epochs: int = 60
    batch_size: int = 32
    learning_rate: float = 0.01
    seed: int = 0
    out: str = "mtl_keras_runs/train"

    #: Directory that relative paths in a data spec are relative to (the config
    #: file's; not a config field).
    base_dir = None

    @classmethod
    def from_file(cls, path: str) -> "RunConfig":
        """Reads a JSON (`.json`) or YAML config (`yaml.safe_load`: no Python tags).

        Raises:
            FileNotFoundError, IsADirectoryError: `path` is not a file.
            ValueError: The file is not valid JSON/YAML, not a mapping, or has
                bad fields (the message gives the line, or the field).
        """
        raw = cls.read_mapping(path, "--config")
        return cls.from_dict(raw, base_dir=os.path.dirname(os.path.abspath(path)))

    @staticmethod
    def read_mapping(path: str, flag: str) -> dict:
        """The mapping in a JSON (`.json`) or YAML file (`flag` names it in messages)."""
        if os.path.isdir(path):
            raise IsADirectoryError(
                f"Expected {flag} to be a JSON or YAML file. Received: {path!r} is a directory.")
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"Expected {flag} to be a JSON or YAML file. Received: {path!r} does not exist.")
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except UnicodeDecodeError:
            raise ValueError(
                f"Expected a JSON or YAML text file. Received: {path!r} is not UTF-8 text.") from None
        raw = _parse_json(text, path) if path.endswith(".json") else _parse_yaml(text, path)
        if not isinstance(raw, dict):
            received = "an empty file" if raw is None else f"a {type(raw).__name__}"
            raise ValueError(
                f"Expected a mapping of config fields (data, tasks, epochs, ...) in {path!r}. "
                f"Received: {received}.")
        return raw

    @classmethod
    def from_dict(cls, raw: dict, base_dir: str | None = None) -> "RunConfig":
        """Builds and validates a config from a dict of fields.

        Args:
            raw: The fields.
            base_dir: Directory that relative paths in a data spec are
                relative to (default: the current directory).

        Raises:
            ValueError: Unknown keys, or a field with a bad type or value.
        """
        fields = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(raw) - set(fields), key=str)
        if unknown:
            hints = [m for k in unknown for m in difflib.get_close_matches(str(k), fields, 1)]
            hint = f" (did you mean {hints}?)" if hints else ""
            raise ValueError(
                f"Unknown config keys {unknown}{hint}. Expected keys among {sorted(fields)}.")
        config = cls(**raw)
        config.base_dir = base_dir
        config.validate()
        return config

    def validate(self) -> None:
        """Checks every field's type and value.

        Raises:
            ValueError: Naming the field, what was expected and what was received.
        """
        _data.check_data(self.data, self.base_dir)
        if self.tasks is not None:
            if (not isinstance(self.tasks, list) or not self.tasks
                    or not all(isinstance(t, str) and t for t in self.tasks)):
                raise ValueError(
                    "Expected tasks to be a non-empty list of task names, such as "
                    f"[species, sex]. Received: tasks={self.tasks!r}")
            if len(set(self.tasks)) != len(self.tasks):
                raise ValueError(f"Expected distinct task names. Received: tasks={self.tasks!r}")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"Expected architecture in {list(ARCHITECTURES)}. "
                f"Received: architecture={self.architecture!r}")
        self._validate_backbone()
        self._validate_groups()
        weighting = self.weighting
        if not (weighting is None or (isinstance(weighting, str) and weighting)
                or (isinstance(weighting, dict) and weighting
                    and all(isinstance(k, str) and is_number(v) for k, v in weighting.items()))):
            raise ValueError(
                "Expected weighting to be a method name (such as uncertainty) or a mapping "
                f"{{task: weight}}. Received: weighting={weighting!r}")
        check_int(self.epochs, "epochs", min_value=1)
        check_int(self.batch_size, "batch_size", min_value=1)
        if isinstance(self.learning_rate, str):
            # PyYAML reads 1e-3 (no dot) as text.
            raise ValueError(
                f"Expected learning_rate to be a number > 0. Received: "
                f"learning_rate={self.learning_rate!r} (text, not a number: write 0.001 or "
                "1.0e-3)")
        check_number(self.learning_rate, "learning_rate", min_value=0, min_exclusive=True)
        check_int(self.seed, "seed", min_value=0)
        if not isinstance(self.out, str) or not self.out:
            raise ValueError(f"Expected out to be a directory path. Received: out={self.out!r}")

    def _validate_backbone(self) -> None:
        backbone = self.backbone
        allowed = _BACKBONE_KEYS[self.architecture]
        if not isinstance(backbone, dict) or backbone.get("type", "mlp") != "mlp":
            raise ValueError(
                "Expected backbone to be a mapping {type: mlp, units: [...]}. "
                f"Received: backbone={backbone!r}")
        extra = sorted(set(backbone) - set(allowed), key=str)
        if extra:
            raise ValueError(
                f"Expected backbone keys among {list(allowed)} for architecture "
                f"{self.architecture!r}. Received: {extra}")
        units = backbone.get("units", [64, 64])
        if (not isinstance(units, list) or not units
                or not all(is_int(u) and u >= 1 for u in units)):
            raise ValueError(
                "Expected backbone.units to be a non-empty list of ints >= 1, such as [64, 64]. "
                f"Received: units={units!r}")
        if not isinstance(backbone.get("activation", "relu"), str):
            raise ValueError(
                "Expected backbone.activation to be an activation name. "
                f"Received: activation={backbone['activation']!r}")
        check_number(backbone.get("dropout", 0.0), "backbone.dropout", min_value=0, max_value=1,
                     max_exclusive=True)
        if not isinstance(backbone.get("batch_norm", False), bool):
            raise ValueError(
                "Expected backbone.batch_norm to be true or false. "
                f"Received: batch_norm={backbone['batch_norm']!r}")

    def _validate_groups(self) -> None:
        groups, architecture = self.groups, self.architecture
        if architecture != "grouped":
            if groups is not None:
                raise ValueError(
                    "Expected groups only with architecture grouped. Received: groups="
                    f"{groups!r} with architecture={architecture!r}")
            return
        if (not isinstance(groups, list) or not groups
                or not all(isinstance(g, list) and g and all(isinstance(t, str) and t for t in g)
                           for g in groups)):
            raise ValueError(
                "Expected groups (architecture grouped) to be a list of non-empty lists of task "
                f"names, such as [[species, sex], [body_mass]]. Received: groups={groups!r}")
        if self.tasks is not None:
            from mtl_keras.affinity.grouping import check_partition

            check_partition(groups, self.tasks)


def _parse_json(text: str, path: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(
            f"Expected valid JSON in {path!r}. Received an error at line {e.lineno}, "
            f"column {e.colno}: {e.msg}.") from None


def _parse_yaml(text: str, path: str):
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "an unknown line"
        problem = str(getattr(e, "problem", None) or e)
        if "tag:yaml.org,2002:python/" in problem:
            tag = problem.split("tag:yaml.org,2002:", 1)[1].split("'", 1)[0]
            problem = (f"the tag !!{tag} (Python tags are not accepted: configs are read "
                       "with yaml.safe_load)")
        raise ValueError(
            f"Expected a valid YAML config in {path!r}. Received an error at {where}: "
            f"{problem}.") from None


def load_data(data: Any, seed: int = 0, base_dir: str | None = None):
    """The bundled dataset (`"penguins"`, split with `seed`) or a data spec dict, loaded.

    See `mtl_keras.commands._data.load_data`.
    """
    return _data.load_data(data, seed, base_dir)


def select_tasks(data, names):
    """The dataset's tasks named in `names` (all of them for None), in that order."""
    if names is None:
        return list(data.tasks)
    by_name = {t.name: t for t in data.tasks}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValueError(f"Unknown tasks {unknown}. Expected names among {sorted(by_name)}.")
    return [by_name[n] for n in names]


def build_model(config: RunConfig, data, tasks):
    """The `config.architecture` model over `data`'s inputs, with `config.backbone`."""
    import mtl_keras as mtl

    options = {k: v for k, v in config.backbone.items() if k != "type"}
    units = list(options.pop("units", [64, 64]))
    architecture = config.architecture
    if _data.is_table(data) and data.spec.crosses:
        return _build_with_crosses(config, data, tasks, units, options)
    inputs, preprocessing = data.inputs(), data.preprocessing()
    if architecture == "hard_sharing":
        return mtl.build_hard_sharing(inputs, mtl.backbones.mlp(units, **options), tasks,
                                      preprocessing=preprocessing)
    if architecture == "soft_sharing":
        return mtl.build_soft_sharing(inputs, mtl.backbones.mlp(units, **options), tasks,
                                      preprocessing=preprocessing)
    if architecture == "cross_stitch":
        stages = [mtl.backbones.mlp([u], **options, name=f"stage_{i}")
                  for i, u in enumerate(units)]
        return mtl.build_cross_stitch(inputs, stages, tasks, preprocessing=preprocessing)
    activation = options.get("activation", "relu")
    if architecture == "mmoe":
        return mtl.build_mmoe(inputs, tasks, expert_units=units, expert_activation=activation,
                              preprocessing=preprocessing)
    if architecture == "grouped":
        return mtl.build_grouped(inputs, mtl.backbones.mlp(units, **options), tasks,
                                 config.groups, preprocessing=preprocessing)
    if architecture == "ple":
        return mtl.build_ple(inputs, tasks, expert_units=units, expert_activation=activation,
                             preprocessing=preprocessing)
    raise ValueError(
        f"Expected architecture in {list(ARCHITECTURES)}. Received: architecture={architecture!r}")


def _build_with_crosses(config, data, tasks, units, options):
    """Hard sharing with the whole FeatureSpace (crosses read several inputs) in the trunk."""
    import keras

    import mtl_keras as mtl

    if config.architecture != "hard_sharing":
        raise ValueError(
            "Expected architecture hard_sharing for a data spec with feature crosses (a cross "
            "reads several inputs, so the whole FeatureSpace goes in front of the shared "
            f"trunk). Received: architecture={config.architecture!r} with crosses "
            f"{[c.columns for c in data.spec.crosses]}")
    inputs = data.inputs()
    encoded = data.encoder()(inputs)
    backbone = keras.Model(inputs, mtl.backbones.mlp(units, **options)(encoded), name="backbone")
    return mtl.build_hard_sharing(data.inputs(), backbone, tasks)


def load_model(path: str):
    """Loads a `MultiTaskModel` from a `.keras` file, with a clear error for a bad file.

    Raises:
        FileNotFoundError, IsADirectoryError: `path` is not a file.
        ValueError: Not a `.keras` archive (wrong suffix, truncated or
            corrupt), a file Keras cannot load, or not a `MultiTaskModel`.
    """
    import keras

    from mtl_keras.model import MultiTaskModel

    expected = "Expected a .keras model file (written by model.save)"
    if os.path.isdir(path):
        raise IsADirectoryError(f"{expected}. Received: {path!r} is a directory.")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{expected}. Received: {path!r} does not exist.")
    if not path.endswith(".keras"):
        raise ValueError(f"{expected}. Received: {path!r} does not end in .keras.")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{expected}. Received: {path!r} is not a valid .keras archive "
            f"({os.path.getsize(path)} bytes; truncated or corrupt?).")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError) as e:
        raise ValueError(f"{expected}. Received: {path!r} cannot be read: {e}.") from None
    if "config.json" not in names:
        raise ValueError(
            f"{expected}. Received: {path!r} is a zip archive without a model config.")
    try:
        model = keras.saving.load_model(path, safe_mode=True)
    except Exception as e:  # Keras raises many types here; name the file in one message.
        raise ValueError(f"Could not load the model in {path!r}: {e}") from e
    if not isinstance(model, MultiTaskModel):
        raise ValueError(
            f"Expected an mtl_keras MultiTaskModel in {path!r}. "
            f"Received: a {type(model).__name__}.")
    return model


def verbosity() -> int:
    """Keras progress bars on a terminal, one line per epoch otherwise."""
    return 1 if sys.stdout.isatty() else 2
