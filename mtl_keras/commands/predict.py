"""`mtl-keras predict`: per-task predictions for a table file, streamed to CSV or Parquet.

    mtl-keras predict --model RUN_DIR --data new_rows.csv --out preds.parquet --keep id

`RUN_DIR` is what `mtl-keras train` wrote from a data spec (`model.keras` and
`data_spec.json`; the `.keras` path itself works too). Rows are read, encoded
with the spec's vocabularies and statistics, predicted and written one batch
at a time, in file order, so memory does not grow with the file. Columns:
the `--keep` columns as they are in the file, then per task `<task>` (the
class name, or the value for regression) and, for classification,
`<task>_prob_<class>` for every class. The file appears only when complete.
"""

from __future__ import annotations

import os

import numpy as np

from mtl_keras.commands import _args, _common, _data, _paths

__all__ = ["add_parser", "predict", "run"]

_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def add_parser(subparsers):
    p = subparsers.add_parser(
        "predict", help="Write per-task predictions for a table file (CSV or Parquet).",
        description="Per-task predictions of a model trained from a data spec, streamed.")
    p.add_argument("--model", required=True,
                   help="A run directory (model.keras and data_spec.json), or the .keras file.")
    p.add_argument("--data", required=True,
                   help="The rows to predict: a CSV or Parquet path or glob, with the "
                        "feature columns (target columns are not needed).")
    p.add_argument("--out", required=True, help="Output file: .csv or .parquet.")
    p.add_argument("--keep", type=_args.name_list, default=[],
                   help="Comma-separated columns copied from --data to the output (ids).")
    p.add_argument("--batch-size", type=_args.positive_int, default=1024, dest="batch_size")
    p.add_argument("--overwrite", action="store_true", help="Replace an existing --out file.")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    rows = predict(args.model, args.data, args.out, keep=args.keep,
                   batch_size=args.batch_size, overwrite=args.overwrite)
    print(f"wrote {rows} rows of predictions to {args.out}")
    return 0


def _model_paths(model: str) -> tuple[str, str]:
    path = os.path.join(model, "model.keras") if os.path.isdir(model) else model
    spec = _data.model_spec_path(path)
    if spec is None:
        raise FileNotFoundError(
            f"Expected {_data.SPEC_FILENAME} next to the model (mtl-keras train writes it "
            f"when the config's data: is a data spec). Received: --model={model!r} without "
            f"{os.path.join(os.path.dirname(os.path.abspath(path)), _data.SPEC_FILENAME)!r}.")
    return path, spec


def _columns(model, targets) -> list[tuple]:
    """`(task, kind, classes)` per model task, checked against the spec's targets."""
    by_task = {t.task: t for t in targets}
    out = []
    for name in model.task_names:
        if name not in by_task:
            raise ValueError(f"Expected the data spec to describe the model's tasks "
                             f"{model.task_names}. Received targets for {sorted(by_task)}.")
        target = by_task[name]
        out.append((name, target.kind, [str(c) for c in target.classes or []]))
    return out


def predict(model: str, data: str, out: str, keep=(), batch_size: int = 1024,
            overwrite: bool = False) -> int:
    """Writes the predictions of `model` for the rows of `data` to `out`; returns the rows.

    Raises:
        FileNotFoundError: No model, or no `data_spec.json` next to it.
        FileExistsError: `out` exists (without `overwrite`).
        ValueError: An output suffix other than .csv/.parquet, a file that
            lacks feature or `keep` columns (the message lists its columns),
            no file matching `data`. All before anything is written.
    """
    from mtl_keras.data import DataSpec

    suffix = os.path.splitext(out)[1].lower()
    if suffix not in _FORMATS:
        raise ValueError(f"Expected --out to end in one of {sorted(_FORMATS)}. "
                         f"Received: --out={out!r}")
    if overwrite:
        _paths.check_output_file(out, "--out")
    else:
        _paths.check_new_path(out, "--out", "predictions")
    model_path, spec_path = _model_paths(model)
    keras_model = _common.load_model(model_path)
    table = DataSpec.read(spec_path).load(check=False)
    tasks = _columns(keras_model, table.targets)
    rows = table.read(data, batch_size=batch_size, keep=list(keep))
    header = list(keep)
    for name, kind, classes in tasks:
        header.append(name)
        if kind != "regression":
            header.extend(f"{name}_prob_{c}" for c in classes)
    writer = _Writer(out, _FORMATS[suffix], header)
    total = 0
    try:
        for element in rows:
            x, kept = (element if keep else (element, {}))
            outputs = keras_model.predict_on_batch(x)
            columns = {c: _raw(kept[c].numpy()) for c in keep}
            for name, kind, classes in tasks:
                values = np.asarray(outputs[name], dtype=np.float32)
                if kind == "regression":
                    columns[name] = values[:, 0]
                    continue
                probs = (np.concatenate([1 - values, values], axis=1) if kind == "binary"
                         else values)
                columns[name] = np.asarray(classes, dtype=object)[probs.argmax(axis=1)]
                for i, c in enumerate(classes):
                    columns[f"{name}_prob_{c}"] = probs[:, i]
            writer.write(columns)
            total += len(next(iter(columns.values())))
        writer.close()
    except BaseException:
        writer.discard()
        raise
    return total


def _raw(values):
    if values.dtype == object:
        return np.asarray([v.decode("utf-8") if isinstance(v, bytes) else v for v in values],
                          dtype=object)
    return values


class _Writer:
    """Writes column batches to a temporary file, renamed to `path` by `close()`."""

    def __init__(self, path: str, fmt: str, header: list[str]):
        self.path, self.fmt, self.header = path, fmt, header
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        self.tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp-{os.getpid()}")
        self._parquet = None
        if fmt == "csv":
            import csv

            self._file = open(self.tmp, "w", newline="", encoding="utf-8")
            self._csv = csv.writer(self._file)
            self._csv.writerow(header)

    def write(self, columns: dict) -> None:
        if self.fmt == "csv":
            data = [columns[c] for c in self.header]
            for row in zip(*data):
                self._csv.writerow([_cell(v) for v in row])
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({c: pa.array(list(columns[c]) if columns[c].dtype == object
                                      else columns[c]) for c in self.header})
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(self.tmp, table.schema)
        self._parquet.write_table(table)

    def close(self) -> None:
        if self.fmt == "csv":
            self._file.close()
        elif self._parquet is not None:
            self._parquet.close()
        else:  # no rows: an empty file with the header's columns
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.table({c: pa.array([], pa.string()) for c in self.header}),
                           self.tmp)
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        try:
            if self.fmt == "csv":
                self._file.close()
            elif self._parquet is not None:
                self._parquet.close()
        finally:
            if os.path.exists(self.tmp):
                os.remove(self.tmp)


def _cell(value):
    if isinstance(value, np.floating):
        return str(value)  # the shortest text that reads back to the same float32
    return value
