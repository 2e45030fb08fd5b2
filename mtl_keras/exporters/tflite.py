"""TFLite (LiteRT) export with the SavedModel's signatures, verified before it is published.

Quantization modes:

* `"float32"`: no quantization; checked against the Keras model within the
  tolerance for the model's compute dtype (`verify.TOLERANCES`; export fails
  on disagreement).
* `"float16"`: weights stored as float16 (about half the size).
* `"dynamic"`: dynamic-range quantization, int8 weights, float activations.
* `"int8"`: full-integer quantization: int8 weights and activations, every op
  an int8 builtin, calibrated on a user `tf.data` representative dataset. The
  model interface stays float32 (quantize/dequantize at the edges), so the
  same runner code serves every mode.

Quantized files report each task's metric change on a labelled sample.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import warnings
from typing import Any

import numpy as np
import tensorflow as tf

from mtl_keras.exporters import signatures as sig
from mtl_keras.exporters import precision, staging, verify
from mtl_keras.exporters.flatbuffer import share_identical_vectors
from mtl_keras.exporters.saved_model import write_saved_model

__all__ = [
    "QUANTIZATIONS",
    "UnsupportedOpError",
    "convert",
    "export_tflite",
]

QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")


class UnsupportedOpError(ValueError):
    """The model uses ops TFLite's builtin kernels do not have."""


def check_representative(model, representative_data):
    """Validates the dataset's structure against the inputs; returns a feed generator factory."""
    if representative_data is None:
        raise ValueError(
            "Expected representative_data (a tf.data.Dataset of model inputs, or of "
            "(inputs, labels)) for quantization='int8': full-integer quantization "
            "calibrates activation ranges on it. Received: representative_data=None"
        )
    if not isinstance(representative_data, tf.data.Dataset):
        representative_data = tf.data.Dataset.from_tensor_slices(representative_data).batch(1)
    spec = sig.input_signature(model)
    element = representative_data.element_spec
    features = element
    if isinstance(element, tuple) and len(element) in (2, 3) and not isinstance(spec, list):
        features = element[0]
    expected = tf.nest.map_structure(lambda s: tuple(s.shape), spec)
    try:
        tf.nest.assert_same_structure(spec, features, check_types=False)
        if isinstance(spec, dict) and sorted(spec) != sorted(features):
            raise ValueError("keys differ")
        pairs = zip(tf.nest.flatten(spec), tf.nest.flatten(features))
        batched = None
        for s, f in pairs:
            want = s.shape[1:]
            if f.shape.rank == s.shape.rank and f.shape[1:].is_compatible_with(want):
                b = True
            elif f.shape.rank == s.shape.rank - 1 and f.shape.is_compatible_with(want):
                b = False
            else:
                raise ValueError("shape")
            if batched is not None and b != batched:
                raise ValueError("mixed")
            batched = b
    except (ValueError, TypeError):
        received = tf.nest.map_structure(lambda s: tuple(s.shape), element)
        raise ValueError(
            "Expected representative_data elements to be the model inputs "
            f"{expected} (batch dimension optional), or (inputs, labels). "
            f"Received element shapes: {received}"
        ) from None
    names = sig.input_names(model)
    has_labels = features is not element

    def feeds(limit):
        ds = representative_data.map(lambda *e: e[0]) if has_labels else representative_data
        if batched:
            ds = ds.unbatch()
        ds = ds.batch(1)  # the calibrator needs one input shape for every tensor
        for item in ds.take(limit):
            flat = tf.nest.flatten(item)
            yield {n: np.asarray(v, np.float32) if s.dtype == tf.float32 else np.asarray(v)
                   for n, v, s in zip(names, flat, tf.nest.flatten(spec))}

    return feeds


def convert(
    saved_model_dir: str,
    signature_keys: list[str],
    quantization: str = "float32",
    representative_feeds=None,
    calibration_steps: int = 100,
    allow_select_tf_ops: bool = False,
    model=None,
) -> bytes:
    """Converts signatures of a SavedModel into one TFLite flatbuffer."""
    converter = tf.lite.TFLiteConverter.from_saved_model(
        saved_model_dir, signature_keys=signature_keys)
    builtins = tf.lite.OpsSet.TFLITE_BUILTINS
    if quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantization == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        builtins = tf.lite.OpsSet.TFLITE_BUILTINS_INT8

        def dataset():
            for feed in representative_feeds(calibration_steps):
                for key in signature_keys:
                    yield (key, feed) if len(signature_keys) > 1 else feed

        converter.representative_dataset = dataset
    ops = [builtins]
    if allow_select_tf_ops:
        ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
    converter.target_spec.supported_ops = ops
    try:
        with warnings.catch_warnings():
            # int8 calibration runs TF's deprecated interpreter internally.
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
            content = converter.convert()
    except Exception as e:  # ConverterError lives in a private module
        raise _explain(e, model, allow_select_tf_ops) from e
    # One copy of the quantization vectors that every signature repeats.
    return share_identical_vectors(content)


def _explain(error, model, allow_select_tf_ops):
    text = str(error)
    ops = sorted(set(re.findall(r"'tf\.(\w+)' op is neither a custom op nor a flex op", text))
                 | set(re.findall(r"tf\.(\w+)\b[^\n]*(?:not supported|is not supported)", text)))
    if not ops or allow_select_tf_ops:
        return RuntimeError(f"TFLite conversion failed: {text.strip()[:2000]}")
    layers = _layers_using(model, ops) if model is not None else {}
    where = "; ".join(f"op {op} in layer(s) {', '.join(layers.get(op, ['?']))}" for op in ops)
    return UnsupportedOpError(
        f"TFLite builtins cannot run {where}. Expected a model made of TFLite builtin "
        "ops. Pass allow_select_tf_ops=True (CLI: --allow-select-tf-ops) to embed "
        "these TensorFlow ops (the app then needs the Select TF ops / Flex delegate), "
        "or replace the layer. Nothing was published."
    )


def _layers_using(model, op_types):
    """`{op_type: [layer path]}` found in the traced serving graph."""
    graph = sig.concrete_functions(model, tasks=[])[sig.DEFAULT_SIGNATURE].graph
    found = {}
    for op in graph.get_operations():
        if op.type in op_types:
            scope = [p for p in op.name.split("/")[:-1]]
            path = "/".join(re.sub(r"_\d+$", "", p) for p in scope[1:]) or op.name
            found.setdefault(op.type, [])
            if path not in found[op.type]:
                found[op.type].append(path)
    return found


def _interpreter_runner(content: bytes):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content)

    def run(name, feed):
        runner = interpreter.get_signature_runner(name)
        return {k: np.asarray(v) for k, v in runner(**feed).items()}

    return run


def check_calibration_steps(calibration_steps) -> None:
    """Raises `ValueError` unless `calibration_steps` is an int >= 1."""
    if isinstance(calibration_steps, bool) or not isinstance(
            calibration_steps, (int, np.integer)) or calibration_steps < 1:
        raise ValueError(
            "Expected calibration_steps to be an int >= 1 (the number of representative "
            f"samples int8 calibration uses). Received: calibration_steps={calibration_steps!r}"
        )


def targets(model, path: str, per_task: bool = False, tasks: list[str] | None = None,
            overwrite: bool = False) -> dict[str, list[str]]:
    """`{file path: signature keys}` that `export_tflite` writes, validated.

    Raises:
        ValueError: Unknown task names.
        FileExistsError: A target exists (and `overwrite=False`), `path` is a
            file where a directory is expected or the reverse, or a parent
            directory is a file.
    """
    path = os.path.abspath(os.fspath(path))
    names = sig.task_signatures(model, tasks)  # validates task names
    if per_task:
        if os.path.exists(path) and not os.path.isdir(path):
            raise FileExistsError(
                f"Expected a directory for per_task=True at {path}. Received: a file."
            )
        staging.check_directory(path)
        found = {os.path.join(path, f"{n}.tflite"): [n] for n in names}
    else:
        if os.path.isdir(path):
            raise FileExistsError(
                f"Expected a .tflite file path. Received: {path}, an existing directory."
            )
        staging.check_directory(os.path.dirname(path))
        found = {path: [sig.DEFAULT_SIGNATURE] + names}
    if not overwrite:
        existing = [t for t in found if os.path.exists(t)]
        if existing:
            raise FileExistsError(
                f"Expected new file paths. Received existing: {existing}. "
                "Pass overwrite=True to replace them."
            )
    return found


def export_tflite(
    model,
    path: str,
    quantization: str = "float32",
    representative_data: Any = None,
    per_task: bool = False,
    tasks: list[str] | None = None,
    sample_inputs: Any = None,
    labelled_sample: tuple | None = None,
    allow_select_tf_ops: bool = False,
    calibration_steps: int = 100,
    overwrite: bool = False,
    saved_model_dir: str | None = None,
    tolerance: verify.Tolerance | tuple | None = None,
) -> list[verify.ArtifactReport]:
    """Exports a `MultiTaskModel` to TFLite, checked against the Keras model.

    Args:
        model: A `mtl_keras.MultiTaskModel`.
        path: The `.tflite` file (one file with `serving_default` and one
            signature per task), or with `per_task=True` a directory that gets
            `<task>.tflite` per task (each with the single signature `<task>`).
        quantization: One of `"float32"`, `"float16"`, `"dynamic"`, `"int8"`.
        representative_data: For `"int8"`: a `tf.data.Dataset` of model inputs
            (or `(inputs, labels)`), batched or not; the first
            `calibration_steps` samples are used.
        per_task: One file per task instead of one file for all tasks.
        tasks: Task signatures to include (default: every main task; an
            auxiliary task named here is exported too); `[]` keeps only
            `serving_default` (a smaller int8 file, see BENCHMARKS.md).
        sample_inputs: Inputs for the comparison (default: 8 seeded random rows).
        labelled_sample: `(features, labels)` to report each task's metric
            change (quantized files).
        allow_select_tf_ops: Embed TensorFlow ops TFLite builtins lack (Flex). If the
            LiteRT interpreter here cannot run them, the file is written
            unverified, with a warning and `report.note`.
        calibration_steps: Representative samples used for int8 calibration
            (an int >= 1).
        overwrite: Replace existing files (default: refuse).
        saved_model_dir: Convert from this SavedModel, written by
            `export_saved_model` for this same `model` (e.g. `report.path`), instead
            of tracing the model again. It must have the signatures needed.
            The result is still compared with the Keras model. Ignored for a
            model that computes in float16 / bfloat16 (mixed precision): TFLite
            has no 16-bit arithmetic, so a float32 copy of the model (same
            variables) is converted, and the file is compared with the model
            itself within the bound for its compute dtype (`report.note` says so).
        tolerance: The bound `|tflite - keras| <= atol + rtol * |keras|` for
            float32 files, as a `Tolerance` or an `(rtol, atol)` pair; default:
            the one for the model's compute dtype
            (`mtl_keras.exporters.verify.TOLERANCES`).

    Returns:
        One `ArtifactReport` per file written.

    Raises:
        ValueError: Unknown quantization; int8 without representative data or
            with data whose structure does not match the inputs;
            `calibration_steps` < 1; an invalid tolerance.
        UnsupportedOpError: A layer needs ops TFLite builtins lack (message
            names the layer and `allow_select_tf_ops=True`).
        FileExistsError: A target exists (and `overwrite=False`) or `path`
            is a file where a directory is expected, or the reverse.
        VerificationError: A float32 file disagrees with the Keras model.
        Nothing is written in any of these cases.

    Example:

    >>> import keras, os, tempfile, mtl_keras as mtl
    >>> tasks = [mtl.Task("a", "binary"), mtl.Task("b", "regression")]
    >>> model = mtl.build_hard_sharing(keras.Input((4,), name="x"),
    ...                                mtl.backbones.mlp([8]), tasks)
    >>> out = os.path.join(tempfile.mkdtemp(), "m.tflite")
    >>> [r.quantization for r in mtl.exporters.export_tflite(model, out)]
    ['float32']
    """
    reports, staged = build(
        model, path, quantization, representative_data, per_task, tasks, sample_inputs,
        labelled_sample, allow_select_tf_ops, calibration_steps, overwrite, saved_model_dir,
        tolerance)
    for directory in sorted({os.path.dirname(f.target) for f in staged}):
        staging.remove_stale(directory)
    try:
        for f in staged:
            f.write()
        for f in staged:
            f.commit()
    except BaseException:
        for f in staged:
            f.discard()
        raise
    return reports


def build(model, path, quantization="float32", representative_data=None, per_task=False,
          tasks=None, sample_inputs=None, labelled_sample=None, allow_select_tf_ops=False,
          calibration_steps=100, overwrite=False, saved_model_dir=None, tolerance=None):
    """Converts and verifies; returns `(reports, [staging.StagedFile])` (nothing written).

    Arguments as in `export_tflite`.
    """
    sig.check_model(model)
    if quantization not in QUANTIZATIONS:
        raise ValueError(
            f"Expected quantization in {QUANTIZATIONS}. Received: quantization={quantization!r}"
        )
    check_calibration_steps(calibration_steps)
    verify.resolve_tolerance(model, tolerance)
    found = targets(model, path, per_task, tasks, overwrite)
    names = sig.task_signatures(model, tasks)
    feeds = check_representative(model, representative_data) if quantization == "int8" \
        else None
    feed = sig.as_feed(model, sample_inputs) if sample_inputs is not None else \
        sig.random_inputs(model)
    work = tempfile.mkdtemp(prefix="mtl-tflite-")
    reports, staged = [], []
    try:
        converted, note = model, ""
        if precision.needs_float32_copy(model):
            # TFLite has no 16-bit arithmetic: convert a float32 copy (same
            # variables) and compare the file with the 16-bit model itself.
            converted = precision.float32_copy(model)
            saved_model_dir = None
            note = (f"computes in float32 (converted from a float32 copy of this "
                    f"{verify.compute_dtype(model)} model)")
        source = saved_model_dir
        if source is None:
            source = os.path.join(work, "sm")
            write_saved_model(converted, source, names)
        for target, keys in found.items():
            content = convert(source, keys, quantization, feeds,
                              calibration_steps, allow_select_tf_ops, converted)
            report = verify.ArtifactReport(target, "tflite", quantization, len(content),
                                           note=note)
            try:
                verify.check_artifact(model, _interpreter_runner(content), keys, feed, report,
                                      labelled_sample, tolerance)
            except RuntimeError as e:
                if not (allow_select_tf_ops and "Flex" in str(e)):
                    raise
                report.checks = []
                report.note = ("not verified: it uses Select TF ops and this LiteRT "
                               "interpreter has no Flex delegate")
                warnings.warn(f"{target}: {report.note}.", stacklevel=3)
            reports.append(report)
            staged.append(staging.StagedFile(target, content))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return reports, staged
