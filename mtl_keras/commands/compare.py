"""`mtl-keras compare`: does sharing help on my data? Single-task vs multi-task, over seeds.

The config is a `train` run config (data, tasks, backbone, epochs, ...) with
the configurations to compare and optional comparison settings:

    data: penguins
    tasks: [species, sex, body_mass]
    backbone: {type: mlp, units: [32]}
    epochs: 40
    compare:                       # each entry overrides the fields above
      - {architecture: hard_sharing, weighting: equal}
      - {architecture: hard_sharing, weighting: uncertainty}
      - {architecture: mmoe, name: mmoe_4x32}
    auxiliary: [sex]               # trained beside the others, not reported
    seeds: 5                       # seeds seed .. seed + 4; --seeds overrides
    metrics: {body_mass: rmse}     # default: each task's first metric
    patience: 10                   # early stopping on the selection quantity

Every seed trains one single-task model per main task (hard sharing with one
task over the same backbone, or `single_task: {architecture, backbone}`) and
every configuration on the same split (the penguins are split anew per seed),
selected on the validation split. Writes `OUT/comparison.txt` (the tables),
`OUT/comparison.json` and `OUT/comparison.png`; each fit is cached in
`OUT/fits/`, so the same command run again after an interruption trains only
the fits still missing.
"""

from __future__ import annotations

import dataclasses
import os

from mtl_keras._validators import check_int
from mtl_keras.commands import _args, _common, _paths

__all__ = ["add_parser", "comparison_from_file", "run"]

# Short architecture names accepted in `compare:` entries.
ALIASES = {"hard": "hard_sharing", "soft": "soft_sharing"}
_COMPARE_KEYS = ("compare", "auxiliary", "seeds", "metrics", "patience", "single_task")
_ENTRY_KEYS = ("name", "architecture", "weighting", "backbone", "groups")
DEFAULT_OUT = "mtl_keras_runs/compare"
OUTPUTS = ("comparison.txt", "comparison.json", "comparison.png")


def add_parser(subparsers):
    p = subparsers.add_parser(
        "compare", help="Single-task vs multi-task configurations over seeds, paired tests.",
        description="Train single-task models and the multi-task configurations listed under "
                    "compare: in the config over several seeds on the same splits; print and "
                    "save per-task intervals, Δm with paired tests, and the cost.")
    p.add_argument("--config", required=True,
                   help="JSON or YAML run config with a compare: list of configurations.")
    p.add_argument("--seeds", type=_args.positive_int,
                   help="Number of seeds, at least 2 (default: the config's seeds:, else 5).")
    p.add_argument("--epochs", type=_args.positive_int, help="Override the config's epochs.")
    p.add_argument("--out", help=f"Output directory (default: the config's out:, else "
                                 f"{DEFAULT_OUT}); fits are cached in OUT/fits.")
    p.set_defaults(run=run)
    return p


@dataclasses.dataclass
class Comparison:
    """A parsed `compare` config: the base run config, the entries and the settings."""

    base: _common.RunConfig
    entries: list  # (name, RunConfig)
    single_task: _common.RunConfig
    auxiliary: list
    seeds: list
    metrics: dict | None
    patience: int | None
    out: str


def _entry_name(entry: dict, config: _common.RunConfig) -> str:
    if "name" in entry:
        return entry["name"]
    weighting = config.weighting
    suffix = (weighting if isinstance(weighting, str) else
              "static" if isinstance(weighting, dict) else "equal")
    return f"{config.architecture}_{suffix}"


def _entry_config(base, entry, where):
    if not isinstance(entry, dict):
        raise ValueError(
            f"Expected {where} to be a mapping such as {{architecture: mmoe, weighting: "
            f"uncertainty}}. Received: {entry!r}")
    unknown = sorted(set(entry) - set(_ENTRY_KEYS), key=str)
    if unknown:
        raise ValueError(f"Expected the keys of {where} among {list(_ENTRY_KEYS)}. "
                         f"Received: {unknown}")
    fields = {k: v for k, v in entry.items() if k != "name"}
    if isinstance(fields.get("architecture"), str):
        fields["architecture"] = ALIASES.get(fields["architecture"], fields["architecture"])
    config = dataclasses.replace(base, **fields)
    config.base_dir = base.base_dir
    try:
        config.validate()
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    return config


def comparison_from_file(path: str, seeds: int | None = None, epochs: int | None = None,
                         out: str | None = None) -> Comparison:
    """Reads and checks a compare config; flags (when not None) override its values.

    Raises:
        FileNotFoundError, IsADirectoryError: `path` is not a file.
        ValueError: Bad JSON/YAML, no `compare:` list, or a bad field or entry.
    """
    raw = _common.RunConfig.read_mapping(path, "--config")
    settings = {k: raw.pop(k) for k in _COMPARE_KEYS if k in raw}
    if epochs is not None:
        raw["epochs"] = epochs
    out = out or raw.get("out") or DEFAULT_OUT
    raw["out"] = out
    base = _common.RunConfig.from_dict(raw, base_dir=os.path.dirname(os.path.abspath(path)))
    entries = settings.get("compare")
    if not isinstance(entries, list) or not entries:
        raise ValueError(
            "Expected compare: to be a non-empty list of configurations, such as "
            "[{architecture: hard_sharing, weighting: equal}, {architecture: mmoe}]. "
            f"Received: compare={entries!r}")
    configs = []
    for i, entry in enumerate(entries):
        config = _entry_config(base, entry, f"compare[{i}]")
        configs.append((_entry_name(entry, config), config))
    names = [n for n, _ in configs]
    if len(set(names)) != len(names):
        raise ValueError(
            f"Expected distinct names for the configurations (give each a name:). Received: "
            f"{names}")
    single = _entry_config(dataclasses.replace(base, architecture="hard_sharing",
                                               weighting=None, groups=None),
                           settings.get("single_task", {}), "single_task")
    auxiliary = settings.get("auxiliary", [])
    if not isinstance(auxiliary, list) or not all(isinstance(t, str) for t in auxiliary):
        raise ValueError(f"Expected auxiliary to be a list of task names. Received: "
                         f"auxiliary={auxiliary!r}")
    metrics = settings.get("metrics")
    if metrics is not None and not (isinstance(metrics, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in metrics.items())):
        raise ValueError(f"Expected metrics to be a mapping {{task: metric}}. Received: "
                         f"metrics={metrics!r}")
    seeds = check_int(seeds if seeds is not None else settings.get("seeds", 5),
                      "seeds (the number of seeds; intervals need at least 2)", min_value=2)
    return Comparison(base, configs, single, auxiliary, list(range(base.seed, base.seed + seeds)),
                      metrics, settings.get("patience"), out)


def _configuration(name, config):
    from mtl_keras.evaluation import Configuration

    def build(data, tasks):
        return _common.build_model(config, data, tasks)

    description = {"architecture": config.architecture, "backbone": config.backbone,
                   "groups": config.groups}
    return Configuration(name, build, weighting=config.weighting, description=description)


def run(args) -> int:
    comparison = comparison_from_file(args.config, args.seeds, args.epochs, args.out)
    paths = [os.path.join(comparison.out, name) for name in OUTPUTS]
    _paths.check_output_dir(comparison.out, "--out")
    for path in paths:
        _paths.check_output_file(path, "--out")
    from mtl_keras.evaluation import compare

    base = comparison.base

    def data(seed):
        return _common.load_data(base.data, seed, base.base_dir)

    result = compare(
        data, [_configuration(n, c) for n, c in comparison.entries],
        seeds=comparison.seeds, tasks=base.tasks, auxiliary=comparison.auxiliary,
        metrics=comparison.metrics, single_task=_configuration("single_task",
                                                               comparison.single_task),
        epochs=base.epochs, batch_size=base.batch_size, learning_rate=base.learning_rate,
        patience=comparison.patience, directory=os.path.join(comparison.out, "fits"))
    text = result.table()
    with open(paths[0], "w", encoding="utf-8") as f:
        f.write(text + "\n")
    result.save(paths[1])
    result.plot(paths[2])
    print()
    print(text)
    print(f"\nwrote {', '.join(paths)}")
    return 0
