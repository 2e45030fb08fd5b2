"""`mtl-keras evaluate`: per-task metrics of a saved model on a dataset split."""

from __future__ import annotations

import os

from mtl_keras.commands import _common


def add_parser(subparsers):
    p = subparsers.add_parser("evaluate", help="Evaluate a saved .keras multi-task model.")
    p.add_argument("model", help="Path of a .keras file saved by mtl-keras.")
    p.add_argument("--data", default="penguins", help="Dataset name (penguins).")
    p.add_argument("--split", default="test", choices=["train", "validation", "test"])
    p.add_argument("--seed", type=int, default=0, help="Seed of the dataset split.")
    p.add_argument("--batch-size", type=int, default=64, dest="batch_size")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    metrics = evaluate(args.model, args.data, args.split, args.seed, args.batch_size)
    rows = []
    for task, values in metrics.items():
        for name, value in values.items():
            rows.append([task, name, value])
    print(_common.format_table(["task", "metric", args.split], rows))
    return 0


def evaluate(path, data_name="penguins", split="test", seed=0, batch_size=64):
    """Returns `{task: {metric: value}}` for the model at `path`."""
    import keras

    from mtl_keras.model import MultiTaskModel

    if not os.path.isfile(path):
        raise FileNotFoundError(f"Expected a .keras model file. Received: {path!r} does not exist")
    model = keras.saving.load_model(path, safe_mode=True)
    if not isinstance(model, MultiTaskModel):
        raise ValueError(
            f"Expected a MultiTaskModel in {path!r}. Received: {type(model).__name__}"
        )
    if not model.compiled:
        model.compile()
    data = _common.load_data(data_name, seed)
    names = model.task_names
    logs = model.evaluate(data.dataset(split, batch_size, tasks=names), return_dict=True,
                          verbose=0)
    return {t: {k[len(t) + 1:]: v for k, v in logs.items() if k.startswith(t + "_")}
            for t in names}
