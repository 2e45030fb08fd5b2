"""SavedModel export in TF Serving's versioned layout, verified before it is published.

Layout written under `base_dir`:

    base_dir/
      models.config                      # model_config_list entry per model name
      <model_name>/
        <version>/                       # 1, 2, ...: never overwritten
          saved_model.pb, variables/, fingerprint.pb
          assets.extra/tf_serving_warmup_requests   # optional warm-up records

A version is written to a hidden `.tmp-export-*` directory next to the
versions (TF Serving only loads directories whose name is a number), loaded
back and compared with the Keras model; then `models.config` gets its entry
(written through a temporary file and a rename), and only then is the
directory renamed into place. A crash or a failed check never leaves a
half-written version that a server would load, nor a published version
without its `models.config` entry (an entry whose version has not appeared
yet is harmless: the server waits for one). Temporary directories left by a
killed export are removed by the next export (see
`mtl_keras.exporters.staging`).
"""

from __future__ import annotations

import os
import re
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from mtl_keras.exporters import signatures as sig
from mtl_keras.exporters import staging, verify

__all__ = [
    "MODELS_CONFIG",
    "WARMUP_FILE",
    "build_archive",
    "existing_versions",
    "export_saved_model",
    "make_predict_request",
    "read_warmup_requests",
    "update_models_config",
    "write_saved_model",
    "write_warmup_requests",
]

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MODELS_CONFIG = "models.config"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def build_archive(model, tasks: list[str] | None = None) -> keras.export.ExportArchive:
    """A `keras.export.ExportArchive` with `serving_default` and one endpoint per task.

    Only variables the endpoints use are saved (the weighting strategy's are not).
    """
    sig.check_model(model)
    spec = sig.input_signature(model)
    archive = keras.export.ExportArchive()
    # Track the trunk and heads (for lookup tables, e.g. in preprocessing), not
    # the model: its weighting strategy's variables are not needed to serve.
    archive.track(model.trunk)
    for head in model.heads:
        archive.track(head)
    for name, fn in sig.serving_functions(model, tasks).items():
        archive.add_endpoint(name, fn, input_signature=[spec])
    return archive


def write_saved_model(model, path: str, tasks: list[str] | None = None) -> None:
    """Writes the SavedModel (no versioning, no checks) to `path`."""
    build_archive(model, tasks).write_out(path, verbose=False)


def check_model_name(model_name: str) -> None:
    """Raises `ValueError` unless `model_name` can name a directory and a served model."""
    if not isinstance(model_name, str) or not _NAME.match(model_name):
        raise ValueError(
            "Expected model_name to be letters, digits, '_', '-' or '.', starting with "
            f"a letter or digit. Received: model_name={model_name!r}"
        )


def _check_base_dir(base_dir: str, model_name: str) -> str:
    check_model_name(model_name)
    base_dir = os.path.abspath(os.fspath(base_dir))
    model_dir = os.path.join(base_dir, model_name)
    staging.check_directory(model_dir)
    return model_dir


def existing_versions(model_dir: str) -> list[int]:
    """Version numbers already present under `<base>/<model_name>`."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(d) for d in os.listdir(model_dir) if d.isdigit())


def export_saved_model(
    model,
    base_dir: str,
    model_name: str = "model",
    version: int | None = None,
    warmup_inputs: Any = None,
    sample_inputs: Any = None,
    tasks: list[str] | None = None,
    write_models_config: bool = True,
    labelled_sample: tuple | None = None,
    tolerance: verify.Tolerance | tuple | None = None,
) -> verify.ArtifactReport:
    """Exports a `MultiTaskModel` as a new version for TF Serving.

    Signatures: `serving_default` returns every main task's output keyed by
    task name (auxiliary tasks only when named in `tasks`); one signature per
    task, named after it, computes only that task's
    head (and the part of the trunk that feeds it). Signature inputs are the
    model's inputs (named after the keys of a dict of inputs).

    Args:
        model: A `mtl_keras.MultiTaskModel`.
        base_dir: Root of the model repository (the server's base path parent).
        model_name: Directory and TF Serving model name.
        version: Explicit version number; default: one more than the highest
            existing version (1 for the first export). An existing version is
            never overwritten.
        warmup_inputs: Optional sample inputs (the model's input structure,
            a few rows): written as warm-up `PredictionLog` records, one per
            signature, to `assets.extra/tf_serving_warmup_requests`.
        sample_inputs: Inputs used to check the SavedModel against the Keras
            model (default: 8 seeded random rows).
        tasks: Per-task signatures to include (default: every main task; name
            an auxiliary task here to export it too).
        write_models_config: Add or update this model's entry in
            `<base_dir>/models.config`.
        labelled_sample: Optional `(features, labels)`: adds each task's primary
            metric (Keras vs SavedModel) to the report.
        tolerance: The bound `|savedmodel - keras| <= atol + rtol * |keras|`,
            as a `Tolerance` or an `(rtol, atol)` pair; default: the one for
            the model's compute dtype (`mtl_keras.exporters.verify.TOLERANCES`).

    Returns:
        An `ArtifactReport` (path of the published version directory, size,
        per signature and task max abs/rel difference).

    Raises:
        FileExistsError: `base_dir`, `<base_dir>/<model_name>` or one of their
            parents is a file, or the requested version exists.
        ValueError: Invalid model name, version or tolerance.
        VerificationError: The SavedModel disagrees with the Keras model
            beyond the tolerance (nothing is published).

    Example:

    >>> import keras, os, tempfile, mtl_keras as mtl
    >>> tasks = [mtl.Task("a", "binary"), mtl.Task("b", "regression")]
    >>> model = mtl.build_hard_sharing(keras.Input((4,), name="x"),
    ...                                mtl.backbones.mlp([8]), tasks)
    >>> base = tempfile.mkdtemp()
    >>> report = mtl.exporters.export_saved_model(model, base, model_name="demo")
    >>> os.path.relpath(report.path, base)
    'demo/1'
    """
    staged = build(model, base_dir, model_name, version, warmup_inputs, sample_inputs, tasks,
                   write_models_config, labelled_sample, tolerance)
    try:
        staged.publish()
    except BaseException:
        staged.discard()
        raise
    return staged.report


def check_arguments(model, base_dir, model_name="model", version=None) -> str:
    """Validates the arguments of `export_saved_model`; returns `<base_dir>/<model_name>`."""
    sig.check_model(model)
    model_dir = _check_base_dir(base_dir, model_name)
    if version is not None and (
            isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise ValueError(f"Expected version to be an int >= 1. Received: version={version!r}")
    if version is not None and os.path.exists(os.path.join(model_dir, str(version))):
        raise FileExistsError(
            f"Version {version} of {model_name!r} exists at {model_dir}: versions are "
            "never overwritten. Pass version=None for the next one."
        )
    return model_dir


class StagedVersion:
    """A verified SavedModel in a locked temporary directory, not yet a version.

    `publish()` adds the `models.config` entry, then renames the directory
    to the next free version number; `discard()` removes it.
    """

    def __init__(self, tmp: staging.TempDir, model_dir: str, model_name: str,
                 version: int | None, write_models_config: bool,
                 report: verify.ArtifactReport):
        self.tmp = tmp
        self.model_dir = model_dir
        self.model_name = model_name
        self.version = version
        self.write_models_config = write_models_config
        self.report = report

    @property
    def path(self) -> str:
        return self.tmp.path

    def publish(self) -> str:
        if self.write_models_config:
            update_models_config(os.path.dirname(self.model_dir), self.model_name)
        self.report.path = _publish_version(self.tmp, self.model_dir, self.version)
        return self.report.path

    def discard(self) -> None:
        self.tmp.remove()


def build(model, base_dir, model_name="model", version=None, warmup_inputs=None,
          sample_inputs=None, tasks=None, write_models_config=True, labelled_sample=None,
          tolerance=None) -> StagedVersion:
    """Writes, reloads and verifies the SavedModel in a temporary directory.

    Arguments as in `export_saved_model`. Nothing is visible to a server until
    `publish()` is called on the result.
    """
    model_dir = check_arguments(model, base_dir, model_name, version)
    verify.resolve_tolerance(model, tolerance)
    feed = sig.as_feed(model, sample_inputs) if sample_inputs is not None else \
        sig.random_inputs(model)
    warm_feed = sig.as_feed(model, warmup_inputs) if warmup_inputs is not None else None
    staging.remove_stale(model_dir)
    tmp = staging.TempDir(model_dir)
    try:
        write_saved_model(model, tmp.path, tasks)
        loaded = tf.saved_model.load(tmp.path)
        names = list(loaded.signatures.keys())
        names = [sig.DEFAULT_SIGNATURE] + sorted(n for n in names if n != sig.DEFAULT_SIGNATURE)
        report = verify.ArtifactReport(tmp.path, "savedmodel", "float32", 0)

        def run(name, f):
            out = loaded.signatures[name](**{k: tf.constant(v) for k, v in f.items()})
            return {k: v.numpy() for k, v in out.items()}

        verify.check_artifact(model, run, names, feed, report, labelled_sample, tolerance)
        if warm_feed is not None:
            write_warmup_requests(tmp.path, model_name, names, warm_feed)
        report.size_bytes = _dir_size(tmp.path)
    except BaseException:
        tmp.remove()
        raise
    return StagedVersion(tmp, model_dir, model_name, version, write_models_config, report)


def _publish_version(tmp: staging.TempDir, model_dir: str, version: int | None) -> str:
    """Renames `tmp` to the next free version directory (atomic on one filesystem)."""
    while True:
        v = version if version is not None else max(existing_versions(model_dir), default=0) + 1
        final = os.path.join(model_dir, str(v))
        if os.path.exists(final):
            if version is not None:
                raise FileExistsError(f"Version directory {final} appeared during export.")
            continue
        try:
            tmp.rename_to(final)
        except OSError:
            if os.path.exists(final) and version is None:
                continue  # another exporter took this number: try the next one
            raise
        return final


def _dir_size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(root, f))
               for root, _, files in os.walk(path) for f in files)


def make_predict_request(model_name: str, signature_name: str, feed: dict):
    """A `tensorflow_serving.apis.predict_pb2.PredictRequest` for `feed`."""
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for key, value in feed.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(np.asarray(value)))
    return request


def write_warmup_requests(version_dir: str, model_name: str, signature_names: list[str],
                          feed: dict) -> str:
    """Writes one warm-up `PredictionLog` per signature; returns the file path."""
    from tensorflow_serving.apis import prediction_log_pb2

    path = os.path.join(version_dir, WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for name in signature_names:
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(
                    request=make_predict_request(model_name, name, feed)))
            writer.write(log.SerializeToString())
    return path


def read_warmup_requests(version_dir: str) -> list:
    """The `PredictRequest`s of a version's warm-up file."""
    from tensorflow_serving.apis import prediction_log_pb2

    requests = []
    for record in tf.data.TFRecordDataset(os.path.join(version_dir, WARMUP_FILE)):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        requests.append(log.predict_log.request)
    return requests


def update_models_config(base_dir: str, model_name: str) -> str:
    """Adds (or keeps) `model_name` in `<base_dir>/models.config`; returns its path.

    The file is a `ModelServerConfig` text proto for
    `tensorflow_model_server --model_config_file=...`; entries for other
    models are kept. It is rewritten atomically.
    """
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    staging.remove_stale(base_dir)
    path = os.path.join(base_dir, MODELS_CONFIG)
    config = model_server_config_pb2.ModelServerConfig()
    if os.path.exists(path):
        with open(path) as f:
            text_format.Parse(f.read(), config)
    entries = config.model_config_list.config
    entry = next((c for c in entries if c.name == model_name), None)
    if entry is None:
        entry = entries.add()
        entry.name = model_name
    entry.base_path = os.path.join(os.path.abspath(base_dir), model_name)
    entry.model_platform = "tensorflow"
    staging.write_atomic(path, text_format.MessageToString(config).encode())
    return path
