"""`mtl-keras train`: train a multi-task model from flags or a JSON/YAML config."""

from __future__ import annotations

import dataclasses
import os

from mtl_keras._tables import format_table
from mtl_keras.commands import _args, _common, _data, _distribute, _paths

__all__ = ["add_parser", "config_from_args", "run", "train"]


def add_parser(subparsers):
    p = subparsers.add_parser(
        "train", help="Train a multi-task model from flags or a config file.",
        description="Train a multi-task model. Flags override the config file's values.",
    )
    p.add_argument("--config", help="JSON or YAML file with RunConfig fields.")
    p.add_argument("--data", choices=list(_common.DATASETS),
                   help="Dataset name (a table of your own: a data spec as the config's data:).")
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
    raw, base_dir = {}, None
    if args.config:
        config = _common.RunConfig.from_file(args.config)
        raw, base_dir = dataclasses.asdict(config), config.base_dir
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
    return _common.RunConfig.from_dict(raw, base_dir=base_dir)


def run(args) -> int:
    _distribute.from_environment()  # before any TensorFlow op (collectives need it)
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
    strategy, chief = _distribute.from_environment()
    out = os.path.join(config.out, "model.keras")
    spec_out = os.path.join(config.out, _data.SPEC_FILENAME)
    table = _data.is_table(config.data)
    if chief:  # other workers of a multi-worker run write nothing
        _paths.check_output_dir(config.out, "--out")
        _paths.check_new_path(out, "--out", "model")
        if table:
            _paths.check_new_path(spec_out, "--out", "data spec")
    keras.utils.set_random_seed(config.seed)
    data = _common.load_data(config.data, config.seed, config.base_dir)
    tasks = _common.select_tasks(data, config.tasks)
    names = [t.name for t in tasks]
    have = _data.splits(data)
    with strategy.scope():
        model = _common.build_model(config, data, tasks)
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                      weighting=config.weighting)
    where = f" on {strategy.num_replicas_in_sync} workers" if _distribute.is_multi_worker(
        strategy) else ""
    print(f"Training {config.architecture} on {_data.data_name(data if table else config.data)} "
          f"({', '.join(names)}){where}: {config.epochs} epochs, {model.count_params()} "
          "parameters", flush=True)

    def split(name):
        if table and _distribute.is_multi_worker(strategy):
            # Each worker reads its own files, in global batches that tf.distribute
            # splits over its replicas (auto-sharding is off: the files are sharded).
            import tensorflow as tf

            workers, index = _distribute.worker_shard()
            context = tf.distribute.InputContext(num_input_pipelines=workers,
                                                 input_pipeline_id=index)
            return data.dataset(name, config.batch_size, seed=config.seed, tasks=names,
                                input_context=context)
        return _data.dataset(data, name, config.batch_size, names, seed=config.seed)

    with _distribute.quiet_end_of_data():
        model.fit(split("train"),
                  validation_data=split("validation") if "validation" in have else None,
                  epochs=config.epochs,
                  verbose=_common.verbosity() if verbose is None else verbose)
        metrics = {}
        if "test" in have:
            metrics = model.evaluate(split("test"), return_dict=True, verbose=0)
    if chief:
        os.makedirs(config.out, exist_ok=True)
        model.save(out)
        if table:
            data.save_spec(spec_out)
    if metrics:
        print(format_table(["metric", "test"], sorted(metrics.items())))
    else:
        print("(no test split: no test metrics)")
    if chief:
        print(f"saved model: {out}")
        if table:
            print(f"saved data spec: {spec_out}")
    return model, metrics
