"""`mtl-keras evaluate`: per-task metrics of a saved model on a dataset split."""

from __future__ import annotations

from mtl_keras._tables import format_table
from mtl_keras.commands import _args, _common

__all__ = ["add_parser", "evaluate", "run"]


def add_parser(subparsers):
    p = subparsers.add_parser("evaluate", help="Evaluate a saved .keras multi-task model.")
    p.add_argument("model", help="Path of a .keras file saved by mtl-keras.")
    p.add_argument("--data", default="penguins", choices=list(_common.DATASETS),
                   help="Dataset name (default: penguins).")
    p.add_argument("--split", default="test", choices=["train", "validation", "test"])
    p.add_argument("--seed", type=_args.non_negative_int, default=0,
                   help="Seed of the dataset split (default: 0, as mtl-keras train).")
    p.add_argument("--batch-size", type=_args.positive_int, default=64, dest="batch_size")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    metrics = evaluate(args.model, args.data, args.split, args.seed, args.batch_size)
    rows = []
    for task, values in metrics.items():
        for name, value in values.items():
            rows.append([task, name, value])
    print(format_table(["task", "metric", args.split], rows))
    return 0


def evaluate(path, data_name="penguins", split="test", seed=0, batch_size=64):
    """Returns `{task: {metric: value}}` for the model at `path`.

    Raises:
        FileNotFoundError, IsADirectoryError: `path` is not a file.
        ValueError: Not a loadable `.keras` multi-task model, or a dataset
            without the model's tasks.
    """
    model = _common.load_model(path)
    if not model.compiled:
        model.compile()
    data = _common.load_data(data_name, seed)
    names = model.task_names
    _common.select_tasks(data, names)
    logs = model.evaluate(data.dataset(split, batch_size, tasks=names), return_dict=True,
                          verbose=0)
    return {t: {k[len(t) + 1:]: v for k, v in logs.items() if k.startswith(t + "_")}
            for t in names}
