"""`mtl-keras affinity`: which tasks should share? Measure, group, write a grouped config.

Runs a short training of the config's model with a `TaskAffinity` callback
(inter-task affinity, Fifty et al., NeurIPS 2021; see docs/affinity.md),
prints the averaged affinity matrix and the best grouping for every group
count, and writes into `--out`:

* `affinity.png`: the heat map, the chosen groups outlined;
* `affinity.json`: the matrix, the measurement counts, the best grouping per
  group count and the chosen one;
* `grouped.yaml`: the run config with `architecture: grouped` and the chosen
  `groups` (every other field kept, `tasks` listed, `out: <--out>/grouped`),
  which `mtl-keras train --config <--out>/grouped.yaml` trains.

Every flag is checked while parsing, and the config, the tasks, the group
count and the output paths before the affinity run starts. Existing outputs
are refused unless `--overwrite`.
"""

from __future__ import annotations

import dataclasses
import json
import os

from mtl_keras.commands import _args, _common, _paths, train

__all__ = ["OUTPUTS", "add_parser", "affinity", "run"]

#: The files written into `--out`.
OUTPUTS = {"plot": "affinity.png", "json": "affinity.json", "config": "grouped.yaml"}
_SOURCE_KEYS = ("source", "train", "validation", "test")


def add_parser(subparsers):
    p = subparsers.add_parser(
        "affinity", help="Measure which tasks help each other; write a grouped config.",
        description="Train the config's model briefly while measuring the inter-task "
                    "affinity; print the matrix and the recommended task groups; write the "
                    "heat map and a config for the grouped model. Flags override the config "
                    "file's values.")
    p.add_argument("--config", help="JSON or YAML file with RunConfig fields (as for train).")
    p.add_argument("--data", choices=list(_common.DATASETS), help="Dataset name.")
    p.add_argument("--tasks", type=_args.name_list,
                   help="Comma-separated task names, at least two (default: all).")
    p.add_argument("--units", type=_args.positive_int_list,
                   help="Comma-separated backbone widths, e.g. 64,64.")
    p.add_argument("--architecture",
                   choices=[a for a in _common.ARCHITECTURES if a != "soft_sharing"],
                   help="Architecture of the affinity run; it must share trunk variables "
                        "(default: hard_sharing).")
    p.add_argument("--weighting", type=_args.weighting,
                   help="Method name, or task=weight pairs: species=2,sex=1.")
    p.add_argument("--epochs", type=_args.positive_int, default=10, dest="affinity_epochs",
                   metavar="N",
                   help="Epochs of the affinity run (default 10); the config's epochs are "
                        "kept for the grouped model.")
    p.add_argument("--every", type=_args.positive_int, default=1, metavar="N",
                   help="Measure every N training steps (default 1: every step).")
    p.add_argument("--lookahead-lr", type=_args.positive_float, default=None,
                   dest="lookahead_lr", metavar="LR",
                   help="Look-ahead step size (default: the optimizer's learning rate).")
    p.add_argument("--groups", type=_args.positive_int, default=None, metavar="G",
                   help="Number of groups to write (default: the best-scoring count).")
    p.add_argument("--batch-size", type=_args.positive_int, dest="batch_size")
    p.add_argument("--learning-rate", type=_args.positive_float, dest="learning_rate")
    p.add_argument("--seed", type=_args.non_negative_int)
    p.add_argument("--out", default="mtl_keras_runs/affinity", dest="affinity_out", metavar="DIR",
                   help="Directory for affinity.png, affinity.json and grouped.yaml "
                        "(default mtl_keras_runs/affinity).")
    p.add_argument("--overwrite", action="store_true",
                   help="Replace existing output files (default: refuse).")
    # `train.config_from_args` reads these; the affinity verb does not set them.
    p.set_defaults(run=run, epochs=None, out=None)
    return p


def run(args) -> int:
    affinity(args)
    return 0


def _check_config(config) -> None:
    """What the affinity run needs from the config, checked before any data is read."""
    if config.architecture == "soft_sharing":
        raise ValueError(
            "Expected an architecture whose tasks share trunk variables (hard_sharing, "
            "cross_stitch, mmoe, ple, grouped) for the affinity run. Received: "
            "architecture='soft_sharing' (its towers share no variable).")
    if config.tasks is not None and len(config.tasks) < 2:
        raise ValueError(
            "Expected at least two tasks to measure their affinity. Received: "
            f"tasks={config.tasks!r}")


def _output_paths(out: str, overwrite: bool) -> dict:
    _paths.check_output_dir(out, "--out")
    paths = {k: os.path.join(out, name) for k, name in OUTPUTS.items()}
    for path in paths.values():
        if overwrite:
            _paths.check_output_file(path, "--out")
        else:
            _paths.check_new_path(path, "--out", "affinity output")
    return paths


def _absolute(value, base_dir: str):
    """A data spec source with relative file paths made absolute (other values as given)."""
    if isinstance(value, str):
        if "://" in value or os.path.isabs(value):
            return value
        return os.path.normpath(os.path.join(base_dir, value))
    if isinstance(value, list):
        return [_absolute(v, base_dir) for v in value]
    if isinstance(value, dict) and "paths" in value:
        return {**value, "paths": _absolute(value["paths"], base_dir)}
    return value


def grouped_fields(config, task_names, out: str) -> dict:
    """The config's fields for the grouped model's run (before `groups` are set).

    The tasks are listed explicitly, `out` becomes `<out>/grouped`, and a data
    spec's relative source paths are made absolute (the grouped config is
    written elsewhere than the config they were relative to).
    """
    fields = dataclasses.asdict(config)
    fields["tasks"] = list(task_names)
    fields["out"] = os.path.join(out, "grouped")
    base_dir = getattr(config, "base_dir", None)
    if isinstance(fields["data"], dict) and base_dir:
        fields["data"] = {k: _absolute(v, base_dir) if k in _SOURCE_KEYS else v
                          for k, v in fields["data"].items()}
    # mmoe and ple take a subset of the MLP's backbone keys: the grouped model takes them too.
    fields.pop("architecture")
    fields.pop("groups", None)
    return fields


def affinity(args) -> dict:
    """Runs the verb; returns `{"result", "grouping", "config", "paths"}` (used by tests).

    Raises:
        ValueError: A bad config, fewer than two tasks, soft sharing, or
            `--groups` above the task count (all before training); a pair
            of tasks never measured (after it).
        FileExistsError, NotADirectoryError, PermissionError: `--out` cannot
            hold the outputs (checked before anything is loaded).
    """
    import keras
    import yaml

    import mtl_keras as mtl
    from mtl_keras.commands import _data

    config = train.config_from_args(args)
    _check_config(config)
    paths = _output_paths(args.affinity_out, args.overwrite)
    keras.utils.set_random_seed(config.seed)
    data = _common.load_data(config.data, config.seed, config.base_dir)
    tasks = _common.select_tasks(data, config.tasks)
    names = [t.name for t in tasks]
    if len(tasks) < 2:
        raise ValueError(f"Expected at least two tasks to measure their affinity. Received: "
                         f"the tasks {names}")
    if args.groups is not None and args.groups > len(tasks):
        raise ValueError(f"Expected --groups between 1 and the number of tasks ({len(tasks)}: "
                         f"{', '.join(names)}). Received: --groups={args.groups}")
    model = _common.build_model(config, data, tasks)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                  weighting=config.weighting)
    print(f"Measuring task affinity: {config.architecture} on "
          f"{_data.data_name(data if _data.is_table(data) else config.data)} "
          f"({', '.join(names)}), {args.affinity_epochs} epochs, every {args.every} step(s)",
          flush=True)
    result = mtl.affinity.measure_affinity(
        model, _data.dataset(data, "train", config.batch_size, names, seed=config.seed),
        epochs=args.affinity_epochs, every_n_steps=args.every, learning_rate=args.lookahead_lr,
        verbose=_common.verbosity())
    grouping = result.recommended() if args.groups is None else result.grouping(args.groups)
    print()
    print(result.report(num_groups=args.groups))

    grouped = result.grouped_config(grouping, base=grouped_fields(config, names,
                                                                  args.affinity_out))
    # The written config must be one `train` accepts: validate it first.
    _common.RunConfig.from_dict(grouped, base_dir=config.base_dir)
    os.makedirs(args.affinity_out, exist_ok=True)
    result.plot(paths["plot"], grouping=grouping,
                title=f"Task affinity ({args.affinity_epochs} epochs); chosen groups outlined")
    report = {**result.to_dict(), "groupings": [g.to_dict() for g in result.groupings()],
              "chosen": grouping.to_dict()}
    with open(paths["json"], "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    with open(paths["config"], "w", encoding="utf-8") as f:
        f.write("# Written by mtl-keras affinity: the grouped model of the chosen task groups.\n")
        yaml.safe_dump(grouped, f, sort_keys=False, default_flow_style=None)
    print(f"\nheat map: {paths['plot']}\nmatrix and groupings: {paths['json']}\n"
          f"grouped config: {paths['config']}\n"
          f"train it with: mtl-keras train --config {paths['config']}")
    return {"result": result, "grouping": grouping, "config": grouped, "paths": paths}
