"""`mtl-keras export`: a saved multi-task model to TF Serving and TFLite artifacts.

    mtl-keras export MODEL.keras --out DIR --formats savedmodel,tflite \\
        --quantize float32,int8 --data penguins

Writes `DIR/serving/<name>/<version>/` (+ `DIR/serving/models.config`) and
`DIR/tflite/<name>_<mode>.tflite` (and with `onnx` in `--formats`,
`DIR/onnx/<name>.onnx`), each checked against the Keras model, and
prints the verification table and the artifact sizes.
"""

from __future__ import annotations

import os

from mtl_keras.commands import _args, _common, _data, _paths

__all__ = ["add_parser", "load_data", "run", "summary"]


def add_parser(subparsers):
    p = subparsers.add_parser(
        "export", help="Export a .keras multi-task model for TF Serving and TFLite, verified.")
    p.add_argument("model", help="A MultiTaskModel saved with model.save('....keras').")
    p.add_argument("--out", required=True, help="Output directory.")
    p.add_argument("--formats", default="savedmodel,tflite",
                   help="Comma-separated: savedmodel, tflite, onnx (default: savedmodel,tflite; "
                        "onnx needs pip install \"mtl-keras[onnx]\").")
    p.add_argument("--quantize", default="float32",
                   help="Comma-separated TFLite modes: float32, float16, dynamic, int8 "
                        "(default: float32).")
    p.add_argument("--model-name", default=None,
                   help="TF Serving model name and file prefix (default: the model file's stem).")
    p.add_argument("--data", default=None,
                   help="'penguins' or a data spec file (train split calibrates int8, test "
                        "split gives the metric change), or an .npz of inputs keyed by input "
                        "name, with optional labels keyed 'label/<task>'. Default: the "
                        "data_spec.json next to the model, if any. Needed for int8.")
    p.add_argument("--per-task", action="store_true", help="One .tflite file per task.")
    p.add_argument("--allow-select-tf-ops", action="store_true",
                   help="Let TFLite embed TensorFlow ops it has no builtin for (Flex).")
    p.add_argument("--calibration-steps", type=_args.positive_int, default=100,
                   help="Samples used to calibrate int8 (default: 100).")
    p.add_argument("--overwrite", action="store_true",
                   help="Replace existing .tflite/.onnx files in --out (the SavedModel "
                        "becomes a new version either way).")
    p.set_defaults(run=run)
    return p


def _split(value):
    return [v.strip() for v in value.split(",") if v.strip()]


def load_data(spec: str | None, model, path: str | None = None):
    """`(representative tf.data.Dataset, labelled_sample or None)` from `--data`.

    `spec` is `"penguins"`, a data spec file, an `.npz` file, or None: the
    `data_spec.json` next to the model file `path`.

    Raises:
        FileNotFoundError: `spec` is neither `"penguins"` nor a file.
        ValueError: The arrays do not match the model: missing or unknown
            input names, labels for unknown tasks, or inconsistent shapes.
    """
    import numpy as np
    import tensorflow as tf

    from mtl_keras.exporters.signatures import from_feed, input_signature

    specs = {s.name: s for s in tf.nest.flatten(input_signature(model))}
    if spec is None or (spec != "penguins" and not spec.endswith(".npz")):
        return _table_data(spec, model, path)
    if spec == "penguins":
        from mtl_keras.data import load_penguins

        data = load_penguins()
        provided = set(data.test.features)
        missing = sorted(set(specs) - provided)
        if missing:
            raise ValueError(
                f"Expected --data penguins to provide the model's inputs {sorted(specs)}. "
                f"Received: the penguins features {sorted(provided)}.")
        unknown = sorted(set(model.task_names) - set(data.test.labels))
        labels = {t: data.test.labels[t] for t in model.task_names if t in data.test.labels}
        sample = (data.test.features, labels) if not unknown else None
        return data.dataset("train", 32, shuffle=False), sample
    if os.path.isdir(spec) or not os.path.isfile(spec):
        raise FileNotFoundError(
            f"Expected --data to be 'penguins' or an .npz file. Received: {spec!r} "
            f"{'is a directory' if os.path.isdir(spec) else 'does not exist'}.")
    try:
        with np.load(spec, allow_pickle=False) as arrays:
            stored = {k: arrays[k] for k in arrays.files}
    except Exception as e:  # np.load raises OSError, ValueError, zipfile errors...
        raise ValueError(
            f"Expected --data to be an .npz file of arrays (numpy.savez). Received: {spec!r} "
            f"cannot be read: {e}") from None
    feed = {k: v for k, v in stored.items() if not k.startswith("label/")}
    labels = {k[len("label/"):]: v for k, v in stored.items() if k.startswith("label/")}
    expected = (f"Expected --data arrays keyed by the model's input names {sorted(specs)} "
                "(and optional labels keyed label/<task>)")
    if set(feed) != set(specs):
        missing, extra = sorted(set(specs) - set(feed)), sorted(set(feed) - set(specs))
        raise ValueError(
            f"{expected}. Received: {spec!r} with arrays {sorted(stored)}"
            + (f"; missing {missing}" if missing else "")
            + (f"; unexpected {extra}" if extra else "") + ".")
    unknown = sorted(set(labels) - set(model.task_names))
    if unknown:
        raise ValueError(
            f"Expected labels for the model's tasks {model.task_names}. "
            f"Received: {spec!r} with labels for {unknown}.")
    rows = {k: (v.shape[0] if v.ndim else None) for k, v in stored.items()}
    if len(set(rows.values())) != 1 or None in rows.values() or 0 in rows.values():
        raise ValueError(
            f"{expected}, with the same number of rows (>= 1) in every array. "
            f"Received: {spec!r} with rows {rows}.")
    for name, s in specs.items():
        expected_shape = tuple(s.shape[1:])
        got = feed[name].shape[1:]
        if len(got) != len(expected_shape) or any(
                e is not None and e != g for e, g in zip(expected_shape, got)):
            raise ValueError(
                f"Expected the array {name!r} in --data to have rows of shape "
                f"{expected_shape}. Received: rows of shape {got}.")
        feed[name] = feed[name].astype(s.dtype.as_numpy_dtype)
    features = from_feed(model, feed)
    representative = tf.data.Dataset.from_tensor_slices(features).batch(1)
    return representative, ((features, labels) if labels else None)


def _table_data(arg, model, path):
    """Representative batches and a labelled sample from penguins or a table's spec."""
    import numpy as np

    data = _data.load_model_data(path, arg)
    names = model.task_names
    _common.select_tasks(data, names)
    available = _data.splits(data)
    provided = set(data.inputs()) if _data.is_table(data) else {"measurements", "island"}
    wanted = {s.name for s in tf_specs(model)}
    if provided != wanted:
        raise ValueError(
            f"Expected the data to provide the model's inputs {sorted(wanted)}. Received: "
            f"{_data.data_name(data)} with the inputs {sorted(provided)}.")
    representative = _data.dataset(data, "train", 32, names, shuffle=False, once=True)
    split = next(s for s in ("test", "validation", "train") if s in available)
    features, labels = {}, {}
    for x, y in _data.dataset(data, split, 64, names, shuffle=False, once=True).take(4):
        for k, v in x.items():
            features.setdefault(k, []).append(v.numpy())
        for k, v in y.items():
            labels.setdefault(k, []).append(v.numpy())
    sample = ({k: np.concatenate(v) for k, v in features.items()},
              {k: np.concatenate(v) for k, v in labels.items()})
    return representative, sample


def tf_specs(model):
    import tensorflow as tf

    from mtl_keras.exporters.signatures import input_signature

    return tf.nest.flatten(input_signature(model))


def run(args) -> int:
    import mtl_keras as mtl

    _paths.check_output_dir(args.out, "--out")
    formats = _split(args.formats)
    quantizations = _split(args.quantize)
    spec_path = _data.model_spec_path(args.model) if args.data is None else None
    if "tflite" in formats and "int8" in quantizations and args.data is None and not spec_path:
        raise ValueError(
            "Expected --data (representative inputs) for --quantize int8: full-integer "
            "quantization calibrates on them. Received: no --data.")
    model = _common.load_model(args.model)
    name = args.model_name or os.path.splitext(os.path.basename(args.model))[0]
    spec_copy = os.path.join(args.out, _data.SPEC_FILENAME)
    if spec_path is not None and os.path.exists(spec_copy) and not args.overwrite and (
            open(spec_copy, "rb").read() != open(spec_path, "rb").read()):
        raise FileExistsError(
            f"Expected a new location for the data spec. Received: {spec_copy!r} exists and "
            "differs (pass --overwrite to replace it; nothing was exported).")
    representative = labelled = None
    if args.data is not None or spec_path is not None:
        representative, labelled = load_data(args.data, model, args.model)
    reports = mtl.exporters.export_all(
        model, args.out, model_name=name, formats=formats, quantizations=quantizations,
        representative_data=representative, labelled_sample=labelled,
        per_task=args.per_task, allow_select_tf_ops=args.allow_select_tf_ops,
        calibration_steps=args.calibration_steps, overwrite=args.overwrite)
    if spec_path is not None:
        from mtl_keras.exporters.staging import write_atomic

        with open(spec_path, "rb") as f:
            write_atomic(spec_copy, f.read())
    print(summary(reports))
    if spec_path is not None:
        print(f"  data spec  {spec_copy} (vocabularies, statistics, classes)")
    return 0


def summary(reports) -> str:
    """The verification table followed by the artifact sizes and paths.

    `mtl-keras demo` prints this after
    `mtl_keras.exporters.export_all(model, out, representative_data=...,
    labelled_sample=...)`.
    """
    from mtl_keras.exporters import format_reports

    lines = [format_reports(reports), "", "Artifacts:"]
    for r in reports:
        lines.append(f"  {r.format:<10} {r.quantization:<8} {r.size_bytes / 1024:8.1f} KiB  "
                     f"{r.path}")
    return "\n".join(lines)
