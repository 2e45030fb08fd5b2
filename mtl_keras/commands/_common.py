"""Helpers shared by the `mtl-keras` verbs: run configs, data, reports."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from typing import Any

DATASETS = ("penguins",)


@dataclasses.dataclass
class RunConfig:
    """What `mtl-keras train` trains. Every field can come from a JSON/YAML file or a flag.

    Fields:
        data: Dataset name (`"penguins"`).
        tasks: Task names to train (default: all of the dataset's tasks).
        backbone: `{"type": "mlp", "units": [64, 64]}` (the MLP backbone's arguments).
        architecture: `"hard_sharing"` (other builders when available).
        weighting: A method name, or a dict `{task: weight}` of static weights.
        epochs, batch_size, learning_rate, seed: Training settings.
        out: Output directory (the model is saved as `<out>/model.keras`).
    """

    data: str = "penguins"
    tasks: list | None = None
    backbone: dict = dataclasses.field(default_factory=lambda: {"type": "mlp", "units": [64, 64]})
    architecture: str = "hard_sharing"
    weighting: Any = None
    epochs: int = 60
    batch_size: int = 32
    learning_rate: float = 0.01
    seed: int = 0
    out: str = "mtl_keras_runs/train"

    @classmethod
    def from_file(cls, path: str) -> "RunConfig":
        """Reads a JSON or YAML config (YAML through `yaml.safe_load`)."""
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Expected a config file. Received: {path!r} does not exist")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if path.endswith(".json"):
            raw = json.loads(text)
        else:
            import yaml

            raw = yaml.safe_load(text)
        if not isinstance(raw, dict):
            raise ValueError(f"Expected a mapping at the top of {path!r}. Received: {type(raw).__name__}")
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: dict) -> "RunConfig":
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - fields)
        if unknown:
            raise ValueError(f"Unknown config keys {unknown}. Expected keys among {sorted(fields)}.")
        config = cls(**raw)
        config.validate()
        return config

    def validate(self) -> None:
        if self.data not in DATASETS:
            raise ValueError(f"Expected data in {list(DATASETS)}. Received: data={self.data!r}")
        if not isinstance(self.backbone, dict) or self.backbone.get("type", "mlp") != "mlp":
            raise ValueError(
                "Expected backbone {'type': 'mlp', 'units': [...], ...}. "
                f"Received: backbone={self.backbone!r}"
            )
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"Expected {name} to be an int >= 1. Received: {name}={value!r}")
        if not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            raise ValueError(
                f"Expected learning_rate > 0. Received: learning_rate={self.learning_rate!r}"
            )


def load_data(name: str, seed: int = 0):
    if name == "penguins":
        from mtl_keras.data import load_penguins

        return load_penguins(seed=seed)
    raise ValueError(f"Expected data in {list(DATASETS)}. Received: data={name!r}")


def select_tasks(data, names):
    if names is None:
        return list(data.tasks)
    by_name = {t.name: t for t in data.tasks}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValueError(f"Unknown tasks {unknown}. Expected names among {sorted(by_name)}.")
    return [by_name[n] for n in names]


def build_model(config: RunConfig, data, tasks):
    import mtl_keras as mtl

    backbone_args = {k: v for k, v in config.backbone.items() if k != "type"}
    backbone = mtl.backbones.mlp(**backbone_args)
    builders = {"hard_sharing": mtl.build_hard_sharing}
    for name in ("soft_sharing", "cross_stitch", "mmoe", "ple"):
        fn = getattr(mtl, f"build_{name}", None)
        if fn is not None:
            builders[name] = fn
    if config.architecture not in builders:
        raise ValueError(
            f"Expected architecture in {sorted(builders)}. Received: {config.architecture!r}"
        )
    return builders[config.architecture](
        data.inputs(), backbone, tasks, preprocessing=data.preprocessing()
    )


def format_table(headers, rows) -> str:
    """A plain-text table with aligned columns."""
    cells = [list(map(str, headers))] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def verbosity() -> int:
    """Keras progress bars on a terminal, one line per epoch otherwise."""
    return 1 if sys.stdout.isatty() else 2
