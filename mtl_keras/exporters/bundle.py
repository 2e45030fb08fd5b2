"""`export_all`: every artifact of a model in one call, with a verification table."""

from __future__ import annotations

import os
from typing import Any, Sequence

from mtl_keras.exporters import verify
from mtl_keras.exporters.onnx import export_onnx
from mtl_keras.exporters.saved_model import export_saved_model
from mtl_keras.exporters.tflite import QUANTIZATIONS, export_tflite

FORMATS = ("savedmodel", "tflite", "onnx")


def export_all(
    model,
    out_dir: str,
    model_name: str = "model",
    formats: Sequence[str] = ("savedmodel", "tflite"),
    quantizations: Sequence[str] = ("float32", "float16", "dynamic", "int8"),
    representative_data: Any = None,
    labelled_sample: tuple | None = None,
    warmup_inputs: Any = None,
    per_task: bool = False,
    allow_select_tf_ops: bool = False,
    calibration_steps: int = 100,
) -> list[verify.ArtifactReport]:
    """Exports a SavedModel (TF Serving layout) and TFLite files (and ONNX), each verified.

    Writes `out_dir/serving/<model_name>/<version>/` and
    `out_dir/tflite/<model_name>_<quantization>.tflite` (or, with
    `per_task=True`, `out_dir/tflite/<model_name>_<quantization>/<task>.tflite`),
    and with `"onnx"` in `formats` `out_dir/onnx/<model_name>.onnx`.
    `"int8"` is skipped (with a note in the report list) when no
    representative data is given.

    Args:
        model: A trained `mtl_keras.MultiTaskModel`.
        out_dir: Output root.
        model_name: TF Serving model name and TFLite file prefix.
        formats: Any of `"savedmodel"`, `"tflite"` (the default: both) and
            `"onnx"` (needs the optional `mtl-keras[onnx]` packages).
        quantizations: TFLite modes among `"float32"`, `"float16"`,
            `"dynamic"`, `"int8"`.
        representative_data: `tf.data.Dataset` of inputs (or `(inputs,
            labels)`) for int8 calibration.
        labelled_sample: `(features, labels)` for the per-task metric change.
        warmup_inputs: Sample inputs for TF Serving warm-up records
            (default: the first rows of `labelled_sample`, if given).
        per_task: One TFLite file per task.
        allow_select_tf_ops, calibration_steps: See `export_tflite`.

    Returns:
        `ArtifactReport`s; print them with `format_reports`.

    Example:

    >>> import keras, tempfile, mtl_keras as mtl
    >>> tasks = [mtl.Task("a", "binary"), mtl.Task("b", "regression")]
    >>> model = mtl.build_hard_sharing(keras.Input((4,), name="x"),
    ...                                mtl.backbones.mlp([8]), tasks)
    >>> reports = mtl.exporters.export_all(model, tempfile.mkdtemp(),
    ...                                    quantizations=["float32"])
    >>> [r.format for r in reports]
    ['savedmodel', 'tflite']
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"Expected formats among {FORMATS}. Received: {list(formats)}")
    bad = [q for q in quantizations if q not in QUANTIZATIONS]
    if bad:
        raise ValueError(
            f"Expected quantizations among {QUANTIZATIONS}. Received: {list(quantizations)}"
        )
    if warmup_inputs is None and labelled_sample is not None:
        warmup_inputs = _head(labelled_sample[0], 4)
    sample_inputs = _head(labelled_sample[0], 64) if labelled_sample is not None else None
    reports = []
    source = None
    if "savedmodel" in formats:
        reports.append(export_saved_model(
            model, os.path.join(out_dir, "serving"), model_name=model_name,
            warmup_inputs=warmup_inputs, sample_inputs=sample_inputs,
            labelled_sample=labelled_sample))
        source = reports[-1].path
    if "tflite" in formats:
        for q in quantizations:
            if q == "int8" and representative_data is None:
                continue
            suffix = "" if per_task else ".tflite"
            reports.extend(export_tflite(
                model, os.path.join(out_dir, "tflite", f"{model_name}_{q}{suffix}"),
                quantization=q, representative_data=representative_data,
                per_task=per_task, sample_inputs=sample_inputs,
                labelled_sample=labelled_sample, allow_select_tf_ops=allow_select_tf_ops,
                calibration_steps=calibration_steps, overwrite=True,
                saved_model_dir=source))
    if "onnx" in formats:
        reports.append(export_onnx(
            model, os.path.join(out_dir, "onnx", f"{model_name}.onnx"),
            sample_inputs=sample_inputs, labelled_sample=labelled_sample, overwrite=True))
    return reports


def _head(inputs, n):
    if isinstance(inputs, dict):
        return {k: v[:n] for k, v in inputs.items()}
    if isinstance(inputs, (list, tuple)):
        return [v[:n] for v in inputs]
    return inputs[:n]
