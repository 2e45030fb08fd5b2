"""`mtl-keras evaluate`: per-task metrics of a saved model on a dataset split."""

from __future__ import annotations

from mtl_keras._tables import format_table
from mtl_keras.commands import _args, _common, _data, _distribute

__all__ = ["add_parser", "evaluate", "run"]


def add_parser(subparsers):
    p = subparsers.add_parser("evaluate", help="Evaluate a saved .keras multi-task model.")
    p.add_argument("model", help="Path of a .keras file saved by mtl-keras.")
    p.add_argument("--data", default=None,
                   help="'penguins', or a JSON/YAML data spec (or run config). Default: the "
                        "data_spec.json next to the model (written by mtl-keras train), else "
                        "penguins.")
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


def evaluate(path, data=None, split="test", seed=0, batch_size=64):
    """Returns `{task: {metric: value}}` for the model at `path`.

    Args:
        path: The `.keras` file.
        data: `"penguins"`, a data spec file, or None: the `data_spec.json`
            next to the model (else penguins).
        split, seed, batch_size: The split to evaluate, the seed of the
            penguins split, the batch size.

    Raises:
        FileNotFoundError, IsADirectoryError: `path` is not a file.
        ValueError: Not a loadable `.keras` multi-task model, or a dataset
            without the model's tasks or without the split.
    """
    model = _common.load_model(path)
    if not model.compiled:
        model.compile()
    data = _data.load_model_data(path, data, seed)
    names = model.task_names
    _common.select_tasks(data, names)
    _data.require_split(data, split, "the split to evaluate")
    with _distribute.quiet_end_of_data():
        logs = model.evaluate(_data.dataset(data, split, batch_size, names, shuffle=False,
                                            once=True),
                              return_dict=True, verbose=0)
    return {t: {k[len(t) + 1:]: v for k, v in logs.items() if k.startswith(t + "_")}
            for t in names}
