"""`mtl-keras train`: train a multi-task model from flags or a JSON/YAML config."""

from __future__ import annotations

import dataclasses
import os

from mtl_keras._tables import format_table
from mtl_keras.commands import _args, _common, _paths

__all__ = ["add_parser", "config_from_args", "run", "train"]


def add_parser(subparsers):
    p = subparsers.add_parser(
        "train", help="Train a multi-task model from flags or a config file.",
        description="Train a multi-task model. Flags override the config file's values.",
    )
    p.add_argument("--config", help="JSON or YAML file with RunConfig fields.")
    p.add_argument("--data", choices=list(_common.DATASETS), help="Dataset name.")
    p.add_argument("--tasks", type=_args.name_list,
                   help="Comma-separated task names (default: all).")
    p.add_argument("--units", type=_args.positive_int_list,
                   help="Comma-separated backbone widths, e.g. 64,64 (the experts' widths for "
                        "mmoe and ple, one cross-stitch stage per width).")
    p.add_argument("--architecture", choices=list(_common.ARCHITECTURES),
                   help="Sharing architecture (default: hard_sharing).")
    p.add_argument("--weighting", type=_args.weighting,
                   help="Method name, or task=weight pairs: species=2,sex=1.")
    p.add_argument("--epochs", type=_args.positive_int)
    p.add_argument("--batch-size", type=_args.positive_int, dest="batch_size")
    p.add_argument("--learning-rate", type=_args.positive_float, dest="learning_rate")
    p.add_argument("--seed", type=_args.non_negative_int)
    p.add_argument("--out", help="Output directory (model saved as OUT/model.keras).")
    p.set_defaults(run=run)
    return p


def config_from_args(args) -> _common.RunConfig:
    """The config file's fields (if any), overridden by the flags that were given."""
    raw = {}
    if args.config:
        raw = dataclasses.asdict(_common.RunConfig.from_file(args.config))
    overrides = {
        "data": args.data,
        "tasks": args.tasks,
        "architecture": args.architecture,
        "weighting": args.weighting,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "seed": args.seed,
        "out": args.out,
    }
    raw.update({k: v for k, v in overrides.items() if v is not None})
    if args.units is not None:
        backbone = dict(raw.get("backbone") or {"type": "mlp"})
        raw["backbone"] = {**backbone, "units": args.units}
    return _common.RunConfig.from_dict(raw)


def run(args) -> int:
    config = config_from_args(args)
    train(config)
    return 0


def train(config: _common.RunConfig, verbose=None):
    """Trains per `config`, saves `<out>/model.keras`, returns `(model, test_metrics)`.

    Raises:
        ValueError: A bad config, or tasks the dataset does not have.
        FileExistsError, NotADirectoryError, PermissionError: `config.out`
            cannot hold the model (checked before any training).
    """
    import keras

    config.validate()
    out = os.path.join(config.out, "model.keras")
    _paths.check_output_dir(config.out, "--out")
    _paths.check_new_path(out, "--out", "model")
    keras.utils.set_random_seed(config.seed)
    data = _common.load_data(config.data, config.seed)
    tasks = _common.select_tasks(data, config.tasks)
    model = _common.build_model(config, data, tasks)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                  weighting=config.weighting)
    names = [t.name for t in tasks]
    print(f"Training {config.architecture} on {config.data} ({', '.join(names)}): "
          f"{config.epochs} epochs, {model.count_params()} parameters", flush=True)
    model.fit(data.dataset("train", config.batch_size, tasks=names),
              validation_data=data.dataset("validation", config.batch_size, tasks=names),
              epochs=config.epochs,
              verbose=_common.verbosity() if verbose is None else verbose)
    metrics = model.evaluate(data.dataset("test", config.batch_size, tasks=names),
                             return_dict=True, verbose=0)
    os.makedirs(config.out, exist_ok=True)
    model.save(out)
    print(format_table(["metric", "test"], sorted(metrics.items())))
    print(f"saved model: {out}")
    return model, metrics
