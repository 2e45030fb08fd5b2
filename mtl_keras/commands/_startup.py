"""TensorFlow's start-up for the `mtl-keras` command, without its log noise.

`TF_CPP_MIN_LOG_LEVEL` quiets TensorFlow's C++ logging only once absl logging
is initialized; the lines its shared libraries print while they load (oneDNN,
CUDA drivers, CPU instructions, "All log messages before
absl::InitializeLog()...") come earlier and ignore it. So the command imports
TensorFlow once, with file descriptor 2 redirected to a temporary file, and
then writes back every captured line that is not such an informational line
(errors and anything unexpected still show). Python-side, absl and
TensorFlow's logger are set to errors only. `--debug` skips all of this.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

__all__ = ["import_tensorflow", "is_startup_noise"]

# Informational start-up lines: absl's I/W prefix (`I0000 00:00:1795962158.939936  3763
# port.cc:153] ...`), absl's pre-initialization warning, the continuation line of the
# CPU-instructions message, and the failed CUDA initialization of a machine without a GPU.
_PREFIX = r"\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w.-]+:\d+\] "
_NOISE = re.compile(
    rf"^(?:[IW]{_PREFIX}"
    rf"|E{_PREFIX}failed call to cuInit"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|To enable the following instructions: .* rebuild TensorFlow)"
)


def is_startup_noise(line: str) -> bool:
    """Whether `line` is one of TensorFlow's informational start-up log lines."""
    return bool(_NOISE.match(line))


def import_tensorflow(quiet: bool = True) -> None:
    """Imports Keras and TensorFlow (and so loads `mtl_keras`), quietly unless `quiet=False`."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not quiet or "tensorflow" in sys.modules:
        import keras  # noqa: F401

        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as capture:
            os.dup2(capture.fileno(), 2)
            try:
                import keras  # noqa: F401
                import tensorflow as tf

                tf.config.list_physical_devices("GPU")  # CUDA's initialization logs too.
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                capture.seek(0)
                text = capture.read().decode("utf-8", errors="replace")
                kept = [line for line in text.splitlines(keepends=True)
                        if not is_startup_noise(line)]
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
    finally:
        os.close(saved)
    import absl.logging
    import tensorflow as tf

    absl.logging.set_verbosity(absl.logging.ERROR)
    tf.get_logger().setLevel("ERROR")
