"""ONNX export of a `MultiTaskModel`, verified with ONNX Runtime.

ONNX has no named signatures: a file is one graph. `export_onnx` writes the
all-tasks graph (outputs named after the tasks, as `serving_default`) or,
with `task=...`, one task's pruned graph (only the layers that task needs).
The conversion uses `tf2onnx` on the traced serving function; the file is
compared with the Keras model in ONNX Runtime before it is published.

The packages are optional: `pip install "mtl-keras[onnx]"` (tf2onnx, onnx,
onnxruntime).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import tensorflow as tf

from mtl_keras.exporters import signatures as sig
from mtl_keras.exporters import verify

DEFAULT_OPSET = 17


def _import_converter():
    try:
        import onnxruntime
        import tf2onnx
    except ImportError as e:
        raise ImportError(
            "export_onnx needs the optional packages tf2onnx, onnx and onnxruntime. "
            f"Install them with: pip install \"mtl-keras[onnx]\". ({e})"
        ) from e
    return tf2onnx, onnxruntime


def export_onnx(
    model,
    path: str,
    task: str | None = None,
    sample_inputs: Any = None,
    labelled_sample: tuple | None = None,
    opset: int = DEFAULT_OPSET,
    overwrite: bool = False,
) -> verify.ArtifactReport:
    """Exports a `MultiTaskModel` to an ONNX file, checked against the Keras model.

    Args:
        model: A `mtl_keras.MultiTaskModel` (any architecture).
        path: The `.onnx` file to write.
        task: One task name for a graph of that task only (its output named
            after the task); None (default) for every task, like
            `serving_default`.
        sample_inputs: Inputs for the comparison (default: 8 seeded random rows).
        labelled_sample: `(features, labels)` to report each task's metric on
            the Keras model and on the ONNX file.
        opset: ONNX opset version (>= 13).
        overwrite: Replace an existing file (default: refuse).

    Returns:
        The `ArtifactReport` (format `"onnx"`) of the file written.

    Raises:
        ImportError: tf2onnx / onnxruntime are not installed (the message says
            how to install them).
        ValueError: Unknown task or invalid opset.
        FileExistsError: `path` exists and `overwrite=False`, or is a directory.
        VerificationError: The ONNX graph disagrees with the Keras model
            (`|diff| <= ATOL + RTOL * |keras|`). Nothing is written then.

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
    tf2onnx, onnxruntime = _import_converter()

    name = sig.DEFAULT_SIGNATURE if task is None else task
    fn = sig.serving_functions(model, [] if task is None else [task])[name]
    spec = sig.input_signature(model)
    proto, _ = tf2onnx.convert.from_function(
        tf.function(fn), input_signature=[spec], opset=opset)
    content = proto.SerializeToString()

    session = onnxruntime.InferenceSession(content, providers=["CPUExecutionProvider"])
    input_names = {i.name.split(":")[0]: i.name for i in session.get_inputs()}
    output_names = [o.name for o in session.get_outputs()]

    def run(_, feed):
        values = session.run(output_names, {input_names[k]: v for k, v in feed.items()})
        return {n.split(":")[0]: v for n, v in zip(output_names, values)}

    feed = sig.as_feed(model, sample_inputs) if sample_inputs is not None else \
        sig.random_inputs(model)
    report = verify.ArtifactReport(path, "onnx", "float32", len(content))
    verify.check_artifact(model, run, [name], feed, report, labelled_sample)

    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".onnx", dir=os.path.dirname(path))
    with os.fdopen(fd, "wb") as f:
        f.write(content)
    os.replace(tmp, path)
    return report
