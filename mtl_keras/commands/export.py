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
                   help="'penguins' (train split calibrates int8, test split gives the "
                        "metric change) or an .npz of inputs keyed by input name, with "
                        "optional labels keyed 'label/<task>'. Required for int8.")
    p.add_argument("--per-task", action="store_true", help="One .tflite file per task.")
    p.add_argument("--allow-select-tf-ops", action="store_true",
                   help="Let TFLite embed TensorFlow ops it has no builtin for (Flex).")
    p.add_argument("--calibration-steps", type=int, default=100,
                   help="Samples used to calibrate int8 (default: 100).")
    p.set_defaults(run=run)
    return p


def _split(value):
    return [v.strip() for v in value.split(",") if v.strip()]


def load_data(spec: str, model):
    """`(representative tf.data.Dataset, labelled_sample or None)` from `--data`."""
    import numpy as np
    import tensorflow as tf

    from mtl_keras.exporters.signatures import from_feed

    if spec == "penguins":
        from mtl_keras.data import load_penguins

        data = load_penguins()
        return data.dataset("train", 32, shuffle=False), (data.test.features, data.test.labels)
    if not os.path.isfile(spec):
        raise FileNotFoundError(
            f"Expected --data to be 'penguins' or an .npz file. Received: {spec!r}")
    with np.load(spec) as arrays:
        feed = {k: arrays[k] for k in arrays.files if not k.startswith("label/")}
        labels = {k[len("label/"):]: arrays[k] for k in arrays.files if k.startswith("label/")}
    features = from_feed(model, feed) if set(feed) else None
    try:
        representative = tf.data.Dataset.from_tensor_slices(features).batch(1)
    except (KeyError, ValueError, TypeError) as e:
        raise ValueError(f"--data {spec}: expected arrays keyed by the model's input "
                         f"names. Received keys: {sorted(feed)}") from e
    return representative, ((features, labels) if labels else None)


def run(args) -> int:
    import keras

    import mtl_keras as mtl

    if not os.path.isfile(args.model):
        raise FileNotFoundError(f"Expected a .keras model file. Received: {args.model!r}")
    out = args.out
    if os.path.exists(out) and not os.path.isdir(out):
        raise FileExistsError(f"Expected --out to be a directory. Received: {out!r} is a file.")
    formats = _split(args.formats)
    quantizations = _split(args.quantize)
    model = keras.saving.load_model(args.model, safe_mode=True)
    name = args.model_name or os.path.splitext(os.path.basename(args.model))[0]
    representative = labelled = None
    if args.data is not None:
        representative, labelled = load_data(args.data, model)
    if "tflite" in formats and "int8" in quantizations and representative is None:
        raise ValueError(
            "Expected --data (representative inputs) for --quantize int8: full-integer "
            "quantization calibrates on them. Received: no --data.")
    reports = mtl.exporters.export_all(
        model, out, model_name=name, formats=formats, quantizations=quantizations,
        representative_data=representative, labelled_sample=labelled,
        per_task=args.per_task, allow_select_tf_ops=args.allow_select_tf_ops,
        calibration_steps=args.calibration_steps)
    print(summary(reports))
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
