"""`mtl-keras train`: train a multi-task model from flags or a JSON/YAML config."""

from __future__ import annotations

import os

from mtl_keras.commands import _common


def add_parser(subparsers):
    p = subparsers.add_parser(
        "train", help="Train a multi-task model from flags or a config file.",
        description="Train a multi-task model. Flags override the config file's values.",
    )
    p.add_argument("--config", help="JSON or YAML file with RunConfig fields.")
    p.add_argument("--data", help="Dataset name (penguins).")
    p.add_argument("--tasks", help="Comma-separated task names (default: all).")
    p.add_argument("--units", help="Comma-separated MLP backbone widths, e.g. 64,64.")
    p.add_argument("--architecture", help="hard_sharing (or another available builder).")
    p.add_argument("--weighting", help="Method name, or task=weight pairs: species=2,sex=1.")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int, dest="batch_size")
    p.add_argument("--learning-rate", type=float, dest="learning_rate")
    p.add_argument("--seed", type=int)
    p.add_argument("--out", help="Output directory (model saved as OUT/model.keras).")
    p.set_defaults(run=run)
    return p


def parse_weighting(text):
    """`"uncertainty"` -> name; `"a=2,b=1"` -> {"a": 2.0, "b": 1.0}."""
    if text is None or "=" not in text:
        return text
    weights = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        try:
            weights[key.strip()] = float(value)
        except ValueError:
            raise ValueError(
                f"Expected task=weight pairs like species=2,sex=1. Received: {text!r}"
            ) from None
    return weights


def config_from_args(args) -> _common.RunConfig:
    raw = {}
    if args.config:
        raw = _common.dataclasses.asdict(_common.RunConfig.from_file(args.config))
    overrides = {
        "data": args.data,
        "tasks": args.tasks.split(",") if args.tasks else None,
        "backbone": {"type": "mlp", "units": [int(u) for u in args.units.split(",")]}
        if args.units else None,
        "architecture": args.architecture,
        "weighting": parse_weighting(args.weighting),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "seed": args.seed,
        "out": args.out,
    }
    raw.update({k: v for k, v in overrides.items() if v is not None})
    return _common.RunConfig.from_dict(raw)


def run(args) -> int:
    config = config_from_args(args)
    train(config)
    return 0


def train(config: _common.RunConfig, verbose=None):
    """Trains per `config`, saves `<out>/model.keras`, returns `(model, test_metrics)`."""
    import keras

    out = os.path.join(config.out, "model.keras")
    if os.path.exists(out):
        raise FileExistsError(
            f"Expected a new output location. Received: {out!r} already exists "
            "(choose another --out; nothing was overwritten)."
        )
    keras.utils.set_random_seed(config.seed)
    data = _common.load_data(config.data, config.seed)
    tasks = _common.select_tasks(data, config.tasks)
    model = _common.build_model(config, data, tasks)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                  weighting=config.weighting)
    names = [t.name for t in tasks]
    model.fit(data.dataset("train", config.batch_size, tasks=names),
              validation_data=data.dataset("validation", config.batch_size, tasks=names),
              epochs=config.epochs,
              verbose=_common.verbosity() if verbose is None else verbose)
    metrics = model.evaluate(data.dataset("test", config.batch_size, tasks=names),
                             return_dict=True, verbose=0)
    os.makedirs(config.out, exist_ok=True)
    model.save(out)
    print(_common.format_table(["metric", "test"], sorted(metrics.items())))
    print(f"saved model: {out}")
    return model, metrics
