"""`export_all`: every artifact of a model in one call, with a verification table.

Every artifact is built and verified before any is published: the SavedModel
waits in its temporary directory, the TFLite and ONNX files in memory. Then
the files are written next to their targets under temporary names, and only
when all of them are on disk are they renamed into place (the SavedModel
version last, after its `models.config` entry). A failure in any format
publishes nothing, and its message names the format.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from typing import Any, Sequence

from mtl_keras.exporters import onnx as onnx_lib
from mtl_keras.exporters import raw_inputs
from mtl_keras.exporters import saved_model as saved_model_lib
from mtl_keras.exporters import signatures as sig
from mtl_keras.exporters import staging, verify
from mtl_keras.exporters import tflite as tflite_lib
from mtl_keras.exporters.tflite import QUANTIZATIONS

__all__ = [
    "FORMATS",
    "export_all",
]

FORMATS = ("savedmodel", "tflite", "onnx")
#: Suffix of the JSON written next to TFLite files of a model on raw columns.
INPUTS_SUFFIX = "_inputs.json"
_LABELS = {"savedmodel": "SavedModel", "tflite": "TFLite", "onnx": "ONNX"}


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
    overwrite: bool = False,
    tolerance: verify.Tolerance | tuple | None = None,
) -> list[verify.ArtifactReport]:
    """Exports a SavedModel (TF Serving layout) and TFLite files (and ONNX), each verified.

    Writes `out_dir/serving/<model_name>/<version>/` and
    `out_dir/tflite/<model_name>_<quantization>.tflite` (or, with
    `per_task=True`, `out_dir/tflite/<model_name>_<quantization>/<task>.tflite`),
    and with `"onnx"` in `formats` `out_dir/onnx/<model_name>.onnx`.

    A model on raw table columns (built on `TableData.preprocessing()`, with
    string or integer categories) gets a SavedModel that takes the raw values,
    and TFLite files of its numeric part, which take each category's lookup
    index: `out_dir/tflite/<model_name>_inputs.json` ships the vocabularies
    and says how to compute the indices (see `mtl_keras.exporters.raw_inputs`).

    Every artifact is built and verified before any is published: if one
    fails, nothing is written (the error names the format). The SavedModel
    becomes a new version on every export; existing `.tflite` and `.onnx`
    files are refused before any work unless `overwrite=True`.

    `"int8"` without `representative_data` is skipped: a `UserWarning` says
    so, and the returned list holds a report for it with `skipped=True` and
    the reason in `note`.

    Args:
        model: A trained `mtl_keras.MultiTaskModel`.
        out_dir: Output root (a directory, created if missing).
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
        allow_select_tf_ops, calibration_steps: See `export_tflite`
            (`calibration_steps` must be an int >= 1).
        overwrite: Replace existing `.tflite` / `.onnx` files (default: refuse).
        tolerance: The bound `|artifact - keras| <= atol + rtol * |keras|` for
            float artifacts, as a `Tolerance` or an `(rtol, atol)` pair;
            default: the one for the model's compute dtype
            (`mtl_keras.exporters.verify.TOLERANCES`).

    Returns:
        `ArtifactReport`s; print them with `format_reports`.

    Raises:
        ValueError: Unknown format or quantization, `calibration_steps` < 1,
            an invalid tolerance.
        FileExistsError: `out_dir` (or a directory under it that an artifact
            needs) is a file, or, without `overwrite=True`, a `.tflite` or
            `.onnx` target exists. Raised before any work.
        VerificationError, UnsupportedOpError, ImportError, RuntimeError: One
            format could not be built or verified (the message names it);
            nothing was published.

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
    sig.check_model(model)
    saved_model_lib.check_model_name(model_name)
    formats, quantizations = list(formats), list(quantizations)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"Expected formats among {FORMATS}. Received: {formats}")
    bad = [q for q in quantizations if q not in QUANTIZATIONS]
    if bad:
        raise ValueError(
            f"Expected quantizations among {QUANTIZATIONS}. Received: {quantizations}"
        )
    tflite_lib.check_calibration_steps(calibration_steps)
    verify.resolve_tolerance(model, tolerance)
    out_dir = os.path.abspath(os.fspath(out_dir))
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise FileExistsError(
            f"Expected out_dir to be a directory (or nothing). Received: {out_dir}, a file. "
            "Nothing was exported."
        )
    staging.check_directory(out_dir)
    tflite_paths, skipped, planned = {}, [], []
    # Raw categorical columns: TFLite gets the numeric part, and their lookups as JSON.
    numeric = "tflite" in formats and not allow_select_tf_ops and bool(
        raw_inputs.input_encodings(model))
    manifest_path = os.path.join(out_dir, "tflite", f"{model_name}{INPUTS_SUFFIX}")
    if numeric:
        planned.append(manifest_path)
    if "tflite" in formats:
        for q in quantizations:
            suffix = "" if per_task else ".tflite"
            path = os.path.join(out_dir, "tflite", f"{model_name}_{q}{suffix}")
            if q == "int8" and representative_data is None:
                skipped.append(path)
                continue
            planned.extend(tflite_lib.targets(model, path, per_task, overwrite=True))
            tflite_paths[q] = path
        if "int8" in tflite_paths:
            tflite_lib.check_representative(model, representative_data)
    onnx_path = os.path.join(out_dir, "onnx", f"{model_name}.onnx")
    if "onnx" in formats:
        onnx_lib.import_converter()   # the optional packages, before any work
        planned.append(onnx_lib.check_target(model, onnx_path, overwrite=True))
    existing = [f for f in planned if os.path.exists(f)]
    if existing and not overwrite:
        raise FileExistsError(
            f"Expected new file paths. Received existing: {existing}. Pass overwrite=True "
            "to replace them, or export into another directory (the SavedModel becomes a "
            "new version either way). Nothing was exported."
        )
    if "savedmodel" in formats:
        saved_model_lib.check_arguments(model, os.path.join(out_dir, "serving"), model_name)

    if warmup_inputs is None and labelled_sample is not None:
        warmup_inputs = _head(labelled_sample[0], 4)
    sample_inputs = _head(labelled_sample[0], 64) if labelled_sample is not None else None
    reports, files, version = [], [], None
    tflite_model, tflite_data, tflite_sample = model, representative_data, labelled_sample
    if numeric:
        tflite_model = raw_inputs.numeric_model(model)
        if representative_data is not None:
            tflite_data = raw_inputs.encode_dataset(model, representative_data)
        if labelled_sample is not None:
            tflite_sample = (raw_inputs.encode_feed(model, labelled_sample[0]),
                             labelled_sample[1])
        text = json.dumps(raw_inputs.inputs_manifest(model), indent=1, ensure_ascii=False)
        files.append(staging.StagedFile(manifest_path, (text + "\n").encode("utf-8")))
    tflite_inputs = _head(tflite_sample[0], 64) if tflite_sample is not None else None
    try:
        if "savedmodel" in formats:
            with _naming("savedmodel"):
                version = saved_model_lib.build(
                    model, os.path.join(out_dir, "serving"), model_name=model_name,
                    warmup_inputs=warmup_inputs, sample_inputs=sample_inputs,
                    labelled_sample=labelled_sample, tolerance=tolerance)
            reports.append(version.report)
        for q in quantizations:
            if "tflite" not in formats:
                break
            if q not in tflite_paths:
                note = "skipped: int8 needs representative_data (inputs to calibrate on)"
                warnings.warn(
                    "export_all skipped the int8 TFLite file: int8 needs representative_data "
                    "(model inputs to calibrate on). Pass representative_data, or leave "
                    "'int8' out of quantizations.", stacklevel=2)
                reports.append(verify.ArtifactReport(
                    skipped[0], "tflite", q, 0, note=note, skipped=True))
                continue
            with _naming("tflite", q):
                built, staged = tflite_lib.build(
                    tflite_model, tflite_paths[q], quantization=q,
                    representative_data=tflite_data, per_task=per_task,
                    sample_inputs=tflite_inputs, labelled_sample=tflite_sample,
                    allow_select_tf_ops=allow_select_tf_ops,
                    calibration_steps=calibration_steps, overwrite=overwrite,
                    saved_model_dir=version.path if version is not None and not numeric
                    else None, tolerance=tolerance)
                if numeric:
                    for report in built:
                        report.note = (report.note + "; " if report.note else "") + (
                            f"categorical inputs as lookup indices: {model_name}"
                            f"{INPUTS_SUFFIX}")
            reports.extend(built)
            files.extend(staged)
        if "onnx" in formats:
            with _naming("onnx"):
                report, staged = onnx_lib.build(
                    model, onnx_path, sample_inputs=sample_inputs,
                    labelled_sample=labelled_sample, tolerance=tolerance)
            reports.append(report)
            files.append(staged)
        # Everything is verified: write the files aside, then rename them all.
        for directory in sorted({os.path.dirname(f.target) for f in files}):
            staging.remove_stale(directory)
        for f in files:
            f.write()
        for f in files:
            f.commit()
        if version is not None:
            version.publish()
    except BaseException:
        for f in files:
            f.discard()
        if version is not None:
            version.discard()  # a no-op once published
        raise
    return reports


@contextlib.contextmanager
def _naming(fmt, quantization=None):
    """Makes an error while building one format name that format.

    This package's own errors (`VerificationError`, `UnsupportedOpError`, a
    missing optional package), file-system errors, and errors that already name
    the format pass unchanged; a plain `ValueError` / `TypeError` gets the
    format in front of its message; anything else (a converter's or ONNX
    Runtime's internal error) becomes a `RuntimeError` naming the format.
    """
    word = _LABELS[fmt]
    label = word + (f" {quantization}" if quantization else "")
    try:
        yield
    except (verify.VerificationError, tflite_lib.UnsupportedOpError, ImportError, OSError):
        raise
    except Exception as error:
        text = str(error).strip()
        if isinstance(error, (RuntimeError, ValueError)) and word in text:
            raise  # e.g. "TFLite conversion failed: ..."
        if type(error) in (ValueError, TypeError):
            raise type(error)(f"{label} export: {text}") from error
        first = text.splitlines()[0] if text else ""
        raise RuntimeError(
            f"export_all: {label} export failed ({type(error).__name__}: {first[:500]}); "
            "nothing was published."
        ) from error


def _head(inputs, n):
    if isinstance(inputs, dict):
        return {k: v[:n] for k, v in inputs.items()}
    if isinstance(inputs, (list, tuple)):
        return [v[:n] for v in inputs]
    return inputs[:n]
