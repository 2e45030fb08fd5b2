"""Checks an exported artifact against the Keras model, task by task.

Float artifacts (SavedModel, float32 TFLite, ONNX) must agree with the Keras
model on every output element within a `Tolerance`:

    |artifact - keras| <= atol + rtol * |keras|

The default bound follows the model's compute dtype (the least precise one
among its layers, e.g. `float16` under the `mixed_float16` policy): about 100
machine epsilons of that dtype relative and 10 absolute (`TOLERANCES`,
`default_tolerance`):

    compute dtype   epsilon   rtol    atol
    float32         1.2e-7    1e-5    1e-6
    float16         9.8e-4    1e-1    1e-2
    bfloat16        7.8e-3    8e-1    8e-2

float32: the relative bound is what float32 kernels that differ only in
summation order guarantee for the small dense networks this library builds;
the absolute floor covers outputs at or near zero (a softmax probability of
1e-9 has no meaningful relative error). 16-bit types: on 17 models (penguins
MLPs with and without input normalization, every builder's test model), with
`atol = rtol / 10`, ONNX Runtime's float16 kernels differ from TensorFlow's by
up to 43 epsilons, and the float32 TFLite file of a float16 / bfloat16 model
(TFLite has no 16-bit arithmetic: it is converted from a float32 copy) by up
to 20 / 19 epsilons; the bound leaves a margin of 2.3 or more. (tf2onnx 1.17
cannot convert bfloat16 graphs; the SavedModel is bit-identical.) Pass
`tolerance=(rtol, atol)` (or a `Tolerance`) to any exporter to state another
bound.

A disagreement raises `VerificationError`, and the exporters then publish
nothing.

Quantized artifacts (float16, dynamic-range, int8) are expected to differ: for
them the report gives each task's primary metric on a labelled sample for the
Keras model and the artifact, and the change.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import keras
import numpy as np

from mtl_keras import _keras_internals as internals
from mtl_keras.exporters import signatures as sig

__all__ = [
    "ATOL",
    "RTOL",
    "TOLERANCES",
    "ArtifactReport",
    "TaskCheck",
    "Tolerance",
    "VerificationError",
    "check_artifact",
    "compare",
    "compute_dtype",
    "default_tolerance",
    "format_reports",
    "primary_metric",
    "resolve_tolerance",
]

RTOL = 1e-5
ATOL = 1e-6


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """The verification bound `|artifact - keras| <= atol + rtol * |keras|`.

    Args:
        rtol: Relative tolerance, a finite float >= 0.
        atol: Absolute tolerance, a finite float >= 0.

    Example:

    >>> Tolerance(rtol=1e-3, atol=1e-4)
    Tolerance(rtol=0.001, atol=0.0001)
    """

    rtol: float
    atol: float

    def __post_init__(self):
        for name in ("rtol", "atol"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    np.isfinite(value) and value >= 0):
                raise ValueError(
                    f"Expected {name} to be a finite number >= 0. Received: {name}={value!r}")
            object.__setattr__(self, name, float(value))

    def __str__(self):
        return f"|diff| <= {self.atol:g} + {self.rtol:g}*|keras|"


TOLERANCES = {
    "float64": Tolerance(RTOL, ATOL),
    "float32": Tolerance(RTOL, ATOL),
    "float16": Tolerance(1e-1, 1e-2),
    "bfloat16": Tolerance(8e-1, 8e-2),
}


def compute_dtype(model) -> str:
    """The least precise floating compute dtype among the model's layers.

    Example:

    >>> import mtl_keras as mtl
    >>> tasks = [mtl.Task("a", "binary")]
    >>> model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]), tasks)
    >>> compute_dtype(model)
    'float32'
    """
    order = ("float64", "float32", "float16", "bfloat16")  # most to least precise
    found = 0
    for layer in [model] + internals.sublayers(model):
        dtype = keras.backend.standardize_dtype(layer.compute_dtype)
        if dtype in order:
            found = max(found, order.index(dtype))
    return order[found]


def default_tolerance(model) -> Tolerance:
    """The bound for float artifacts of `model`: `TOLERANCES[compute_dtype(model)]`."""
    return TOLERANCES[compute_dtype(model)]


def resolve_tolerance(model, tolerance) -> Tolerance:
    """`tolerance` as a `Tolerance`: None gives `default_tolerance(model)`.

    Args:
        model: The Keras model (for the default).
        tolerance: None, a `Tolerance`, or an `(rtol, atol)` pair.

    Raises:
        ValueError: Anything else, or negative / non-finite values.
    """
    if tolerance is None:
        return default_tolerance(model)
    if isinstance(tolerance, Tolerance):
        return tolerance
    if isinstance(tolerance, (tuple, list)) and len(tolerance) == 2:
        return Tolerance(*tolerance)
    raise ValueError(
        "Expected tolerance to be None (the default for the model's compute dtype), a "
        "`mtl_keras.exporters.Tolerance` or an (rtol, atol) pair. "
        f"Received: tolerance={tolerance!r}"
    )


class VerificationError(ValueError):
    """A float artifact disagrees with the Keras model; nothing was published."""


@dataclasses.dataclass
class TaskCheck:
    """One task's comparison in one signature of one artifact."""

    signature: str
    task: str
    max_abs_diff: float
    max_rel_diff: float
    within_tolerance: bool
    metric: str | None = None
    keras_value: float | None = None
    artifact_value: float | None = None

    @property
    def metric_change(self) -> float | None:
        if self.keras_value is None or self.artifact_value is None:
            return None
        return self.artifact_value - self.keras_value


@dataclasses.dataclass
class ArtifactReport:
    """What was written and how it compares with the Keras model.

    `path` is the published file or version directory; `checks` one
    `TaskCheck` per signature and task; `tolerance` the bound float artifacts
    were held to; `note` anything the table should show (e.g. why an artifact
    was not verified). A `skipped` report stands for an artifact that was
    requested but not written (`note` says why; `path` is where it would be).
    """

    path: str
    format: str
    quantization: str
    size_bytes: int
    checks: list = dataclasses.field(default_factory=list)
    note: str = ""
    tolerance: Tolerance | None = None
    skipped: bool = False

    @property
    def is_float(self) -> bool:
        return self.quantization == "float32"

    @property
    def ok(self) -> bool:
        return all(c.within_tolerance for c in self.checks) if self.is_float else True


def compare(reference: np.ndarray, actual: np.ndarray,
            rtol: float = RTOL, atol: float = ATOL) -> tuple[float, float, bool]:
    """`(max_abs_diff, max_rel_diff, within_tolerance)` of two arrays.

    Example:

    >>> compare(np.array([1.0, 0.0]), np.array([1.000001, 5e-7]))[2]
    True
    """
    reference = np.asarray(reference, np.float64)
    actual = np.asarray(actual, np.float64)
    if reference.shape != actual.shape:
        raise VerificationError(
            f"Expected an output of shape {reference.shape}. Received: shape={actual.shape}"
        )
    diff = np.abs(actual - reference)
    rel = diff / np.maximum(np.abs(reference), np.finfo(np.float32).tiny)
    ok = bool(np.all(diff <= atol + rtol * np.abs(reference))) and bool(
        np.all(np.isfinite(actual)))
    return float(diff.max(initial=0.0)), float(rel.max(initial=0.0)), ok


def primary_metric(task, labels, predictions) -> tuple[str, float]:
    """`(name, value)` of a task's first metric on labelled samples (missing masked)."""
    metric = task.make_metrics()[0]
    clean, mask = task.prepare_labels(labels)
    metric.update_state(clean, keras.ops.convert_to_tensor(predictions), sample_weight=mask)
    return metric.name, float(keras.ops.convert_to_numpy(metric.result()))


def check_artifact(
    model,
    run: Callable[[str, dict], dict],
    signature_names: list[str],
    feed: dict,
    report: ArtifactReport,
    labelled_sample: tuple | None = None,
    tolerance: Tolerance | tuple | None = None,
) -> ArtifactReport:
    """Runs each signature of an artifact on `feed` and fills `report.checks`.

    Args:
        model: The Keras `MultiTaskModel` (the reference).
        run: `run(signature_name, feed) -> {task: array}` for the artifact.
        signature_names: Signatures to check (`serving_default` and/or task names).
        feed: `{input_name: array}` sample inputs.
        report: The report to fill.
        labelled_sample: Optional `(features, labels)` (features in the
            model's input structure, labels a dict keyed by task label key):
            adds each task's primary metric, Keras vs artifact.
        tolerance: The bound for float artifacts (see `resolve_tolerance`);
            default: `default_tolerance(model)`. Stored in `report.tolerance`.

    Returns:
        The report.

    Raises:
        VerificationError: When a float artifact disagrees, or an output is
            missing or misshaped.
    """
    bound = resolve_tolerance(model, tolerance)
    report.tolerance = bound
    reference = sig.keras_outputs(model, feed)
    labelled_ref = labelled_feed = None
    if labelled_sample is not None:
        labelled_feed = sig.as_feed(model, labelled_sample[0])
        labelled_ref = sig.keras_outputs(model, labelled_feed)
    for name in signature_names:
        expected_keys = (sig.default_outputs(model, signature_names)
                         if name == sig.DEFAULT_SIGNATURE else [name])
        out = run(name, feed)
        if sorted(out) != sorted(expected_keys):
            raise VerificationError(
                f"{report.path}: expected signature {name!r} to return {sorted(expected_keys)}. "
                f"Received: {sorted(out)}"
            )
        labelled_out = run(name, labelled_feed) if labelled_sample is not None else None
        for task_name in expected_keys:
            abs_d, rel_d, ok = compare(reference[task_name], out[task_name],
                                       rtol=bound.rtol, atol=bound.atol)
            check = TaskCheck(name, task_name, abs_d, rel_d, ok)
            if labelled_out is not None:
                task = model.get_task(task_name)
                labels = labelled_sample[1][task.label_key]
                check.metric, check.keras_value = primary_metric(
                    task, labels, labelled_ref[task_name])
                _, check.artifact_value = primary_metric(task, labels, labelled_out[task_name])
            report.checks.append(check)
    if report.is_float and not report.ok:
        bad = [c for c in report.checks if not c.within_tolerance]
        detail = ", ".join(
            f"{c.signature}/{c.task}: max abs diff {c.max_abs_diff:.3g}, "
            f"max rel diff {c.max_rel_diff:.3g}" for c in bad)
        raise VerificationError(
            f"{report.format} artifact ({report.quantization}) disagrees with the Keras "
            f"model beyond {bound} (the bound for {compute_dtype(model)} models; pass "
            f"tolerance=(rtol, atol) to state another): {detail}. Nothing was published."
        )
    return report


def format_reports(reports: list[ArtifactReport]) -> str:
    """A printable table: per artifact and task, differences, metric change, size.

    Example:

    >>> r = ArtifactReport("m.tflite", "tflite", "float32", 2048,
    ...                    [TaskCheck("serving_default", "a", 1e-7, 2e-7, True)])
    >>> format_reports([r]).splitlines()[1].split()[:5]
    ['m.tflite', 'float32', '2.0', 'serving_default', 'a']
    """
    header = ("artifact", "quant", "size_kb", "signature", "task", "max_abs", "max_rel",
              "ok", "metric", "keras", "artifact", "change")
    rows = [header]
    for r in reports:
        if not r.checks:
            rows.append((_short(r.path), r.quantization, f"{r.size_bytes / 1024:.1f}",
                         r.note or "-", "", "", "", "", "", "", "", ""))
        for i, c in enumerate(r.checks):
            first = i == 0
            rows.append((
                _short(r.path) if first else "",
                r.quantization if first else "",
                f"{r.size_bytes / 1024:.1f}" if first else "",
                c.signature, c.task, f"{c.max_abs_diff:.2e}", f"{c.max_rel_diff:.2e}",
                ("yes" if c.within_tolerance else "NO") if r.is_float else "-",
                c.metric or "-",
                _num(c.keras_value), _num(c.artifact_value),
                "-" if c.metric_change is None else f"{c.metric_change:+.4f}",
            ))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip() for row in rows)


def _num(v):
    return "-" if v is None else f"{v:.4f}"


def _short(path):
    import os

    parts = os.path.normpath(path).split(os.sep)
    return os.sep.join(parts[-3:])
