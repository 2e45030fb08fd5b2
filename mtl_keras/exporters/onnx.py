"""ONNX export of a `MultiTaskModel`, verified with ONNX Runtime.

ONNX has no named signatures: a file is one graph. `export_onnx` writes the
all-tasks graph (outputs named after the tasks, as `serving_default`) or,
with `task=...`, one task's pruned graph (only the layers that task needs).
The conversion uses `tf2onnx` on the traced serving function, frozen with
every captured value (variables, and constants such as an adapted
`Normalization` layer's mean and variance) folded into the graph; the file is
compared with the Keras model in ONNX Runtime before it is published.

The packages are optional: `pip install "mtl-keras[onnx]"` (tf2onnx, onnx,
onnxruntime).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import tensorflow as tf

from mtl_keras.exporters import signatures as sig
from mtl_keras.exporters import staging, verify

__all__ = [
    "DEFAULT_OPSET",
    "convert",
    "export_onnx",
]

DEFAULT_OPSET = 17


def import_converter():
    """`(tf2onnx, onnxruntime)`, or an `ImportError` that says how to install them."""
    try:
        import onnxruntime
        import tf2onnx
    except ImportError as e:
        raise ImportError(
            "export_onnx needs the optional packages tf2onnx, onnx and onnxruntime. "
            f"Install them with: pip install \"mtl-keras[onnx]\". ({e})"
        ) from e
    return tf2onnx, onnxruntime


def convert(model, task: str | None = None, opset: int = DEFAULT_OPSET) -> bytes:
    """The serialized ONNX model of one serving function (all tasks, or `task`).

    `tf2onnx.convert.from_function` takes every non-resource input of the
    traced function as a graph input, including the placeholders of captured
    eager tensors (an adapted `Normalization` layer's mean and variance), which
    ONNX Runtime then requires in every feed. Here only the signature's own
    inputs are graph inputs: the function is frozen (captures folded into
    constants) and converted from its `GraphDef`.
    """
    tf2onnx, _ = import_converter()
    name = sig.DEFAULT_SIGNATURE if task is None else task
    fn = sig.serving_functions(model, [] if task is None else [task])[name]
    concrete = tf.function(fn).get_concrete_function(sig.input_signature(model))
    captured = {id(t) for t in concrete.graph.internal_captures}
    inputs = [t.name for t in concrete.inputs
              if t.dtype != tf.resource and id(t) not in captured]
    outputs = [t.name for t in concrete.outputs]
    tf_logger = logging.getLogger("tensorflow")
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)  # tf2onnx's TF1 session calls log deprecation notes
    try:
        with tf.device("/cpu:0"):
            graph_def = tf2onnx.tf_loader.from_function(concrete, inputs, outputs)
        proto, _ = tf2onnx.convert.from_graph_def(
            graph_def, name=name, input_names=inputs, output_names=outputs, opset=opset,
            tensors_to_rename=tf2onnx.convert.tensor_names_from_structed(
                concrete, inputs, outputs))
    finally:
        tf_logger.setLevel(level)
    return proto.SerializeToString()


def export_onnx(
    model,
    path: str,
    task: str | None = None,
    sample_inputs: Any = None,
    labelled_sample: tuple | None = None,
    opset: int = DEFAULT_OPSET,
    overwrite: bool = False,
    tolerance: verify.Tolerance | tuple | None = None,
) -> verify.ArtifactReport:
    """Exports a `MultiTaskModel` to an ONNX file, checked against the Keras model.

    Args:
        model: A `mtl_keras.MultiTaskModel` (any architecture).
        path: The `.onnx` file to write.
        task: One task name for a graph of that task only (its output named
            after the task, auxiliary tasks too); None (default) for every
            main task, like `serving_default`.
        sample_inputs: Inputs for the comparison (default: 8 seeded random rows).
        labelled_sample: `(features, labels)` to report each task's metric on
            the Keras model and on the ONNX file.
        opset: ONNX opset version (>= 13).
        overwrite: Replace an existing file (default: refuse).
        tolerance: The bound `|onnx - keras| <= atol + rtol * |keras|`, as a
            `Tolerance` or an `(rtol, atol)` pair; default: the one for the
            model's compute dtype (`mtl_keras.exporters.verify.TOLERANCES`).

    Returns:
        The `ArtifactReport` (format `"onnx"`) of the file written.

    Raises:
        ImportError: tf2onnx / onnxruntime are not installed (the message says
            how to install them).
        ValueError: Unknown task, invalid opset or tolerance.
        FileExistsError: `path` exists and `overwrite=False`, or is a directory.
        RuntimeError: tf2onnx cannot convert the graph, or ONNX Runtime cannot
            load or run it (the message says which).
        VerificationError: The ONNX graph disagrees with the Keras model
            beyond the tolerance.
        Nothing is written in any of these cases.

    Example:

    >>> import keras, os, tempfile, mtl_keras as mtl
    >>> tasks = [mtl.Task("a", "binary"), mtl.Task("b", "regression")]
    >>> model = mtl.build_hard_sharing(keras.Input((4,), name="x"),
    ...                                mtl.backbones.mlp([8]), tasks)
    >>> out = os.path.join(tempfile.mkdtemp(), "m.onnx")
    >>> report = mtl.exporters.export_onnx(model, out)
    >>> report.format, report.ok
    ('onnx', True)
    """
    path = check_target(model, path, task, opset, overwrite)
    verify.resolve_tolerance(model, tolerance)
    report, staged = build(model, path, task, sample_inputs, labelled_sample, opset, tolerance)
    staging.remove_stale(os.path.dirname(path))
    staging.write_atomic(staged.target, staged.content)
    return report


def check_target(model, path, task=None, opset=DEFAULT_OPSET, overwrite=False) -> str:
    """Validates the arguments of `export_onnx`; returns the absolute target path."""
    sig.check_model(model)
    if task is not None and task not in model.task_names:
        raise ValueError(f"Expected task among {model.task_names} or None. Received: {task!r}")
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < 13:
        raise ValueError(f"Expected opset to be an int >= 13. Received: opset={opset!r}")
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path):
        raise FileExistsError(
            f"Expected a file path for the ONNX model. Received: a directory {path}")
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} exists. Pass overwrite=True to replace it.")
    return path


def build(model, path, task=None, sample_inputs=None, labelled_sample=None,
          opset=DEFAULT_OPSET, tolerance=None):
    """Converts and verifies; returns `(report, staging.StagedFile)` (nothing written)."""
    _, onnxruntime = import_converter()
    name = sig.DEFAULT_SIGNATURE if task is None else task
    try:
        content = convert(model, task, opset)
    except Exception as e:
        raise RuntimeError(
            f"ONNX conversion (tf2onnx, opset {opset}) of signature {name!r} failed: "
            f"{_first_line(e)}. Nothing was written.") from e
    try:
        session = onnxruntime.InferenceSession(content, providers=["CPUExecutionProvider"])
    except Exception as e:
        raise RuntimeError(
            f"ONNX Runtime cannot load the converted {name!r} graph: {_first_line(e)}. "
            "Nothing was written.") from e
    input_names = {i.name.split(":")[0]: i.name for i in session.get_inputs()}
    output_names = [o.name for o in session.get_outputs()]
    feed = sig.as_feed(model, sample_inputs) if sample_inputs is not None else \
        sig.random_inputs(model)
    if sorted(input_names) != sorted(feed):
        raise RuntimeError(
            f"Expected the converted ONNX graph's inputs to be the model's, {sorted(feed)}. "
            f"Received: {sorted(input_names)}. Nothing was written.")

    def run(_, f):
        try:
            values = session.run(output_names, {input_names[k]: v for k, v in f.items()})
        except Exception as e:
            raise RuntimeError(
                f"ONNX Runtime failed to run the converted {name!r} graph: "
                f"{_first_line(e)}. Nothing was written.") from e
        return {n.split(":")[0]: v for n, v in zip(output_names, values)}

    report = verify.ArtifactReport(path, "onnx", "float32", len(content))
    verify.check_artifact(model, run, [name], feed, report, labelled_sample, tolerance)
    return report, staging.StagedFile(path, content)


def _first_line(error):
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:500]
