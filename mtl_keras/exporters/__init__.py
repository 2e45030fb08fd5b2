"""Exporters: SavedModel for TF Serving and TFLite for phones, each verified.

* `export_saved_model`: TF Serving's versioned layout, warm-up records,
  `models.config`; `serving_default` plus one signature per task.
* `export_tflite`: float32 / float16 / dynamic-range / int8, one file for all
  tasks or one per task, same signatures.
* `export_onnx`: an ONNX file (all tasks, or one task), verified with ONNX
  Runtime (optional packages: `pip install "mtl-keras[onnx]"`).
* `export_all`: SavedModel and TFLite (and ONNX), every one built and verified
  before any is published, returning a verification table (`format_reports`).

Every artifact is compared with the Keras model before it is published, within
a bound that follows the model's compute dtype (`Tolerance`, `TOLERANCES`; see
`mtl_keras.exporters.verify`), or the one given as `tolerance=`.
"""

from mtl_keras.exporters.bundle import export_all
from mtl_keras.exporters.onnx import export_onnx
from mtl_keras.exporters.saved_model import (
    export_saved_model,
    read_warmup_requests,
    update_models_config,
)
from mtl_keras.exporters.signatures import DEFAULT_SIGNATURE, input_signature
from mtl_keras.exporters.tflite import QUANTIZATIONS, UnsupportedOpError, export_tflite
from mtl_keras.exporters.verify import (
    ATOL,
    RTOL,
    TOLERANCES,
    ArtifactReport,
    TaskCheck,
    Tolerance,
    VerificationError,
    default_tolerance,
    format_reports,
)

__all__ = [
    "export_onnx",
    "ATOL",
    "ArtifactReport",
    "DEFAULT_SIGNATURE",
    "QUANTIZATIONS",
    "RTOL",
    "TOLERANCES",
    "TaskCheck",
    "Tolerance",
    "UnsupportedOpError",
    "VerificationError",
    "default_tolerance",
    "export_all",
    "export_saved_model",
    "export_tflite",
    "format_reports",
    "input_signature",
    "read_warmup_requests",
    "update_models_config",
]
