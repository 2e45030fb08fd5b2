"""The distribution strategy of `mtl-keras train`, from the environment.

With a `TF_CONFIG` naming a cluster of several workers, the same command and
config run on every worker train one model under
`tf.distribute.MultiWorkerMirroredStrategy`: a table's files are sharded by
worker (`TableData.dataset(input_context=...)`), and only the chief (worker
0, or the `chief` task) checks and writes the output directory. Otherwise
the default strategy (one device).
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings

__all__ = ["from_environment", "is_multi_worker", "quiet_end_of_data", "worker_shard"]


def _cluster() -> tuple[dict, dict]:
    text = os.environ.get("TF_CONFIG", "")
    if not text.strip():
        return {}, {}
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"Expected TF_CONFIG to be JSON ({{'cluster': ..., 'task': ...}}). "
                         f"Received: {text[:200]!r} ({e.msg})") from None
    if not isinstance(config, dict):
        raise ValueError(f"Expected TF_CONFIG to be a JSON object. Received: {text[:200]!r}")
    return config.get("cluster") or {}, config.get("task") or {}


_STRATEGY = []


def from_environment():
    """`(strategy, is_chief)`: MultiWorkerMirroredStrategy for a multi-worker TF_CONFIG.

    The strategy is created once per process, on the first call, which must
    come before TensorFlow runs any op (collective ops are configured then).
    """
    import tensorflow as tf

    cluster, task = _cluster()
    workers = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
    if workers < 2:
        return tf.distribute.get_strategy(), True
    if not _STRATEGY:
        _STRATEGY.append(tf.distribute.MultiWorkerMirroredStrategy())
    strategy = _STRATEGY[0]
    kind, index = task.get("type", "worker"), task.get("index", 0)
    chief = kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cluster)
    return strategy, chief


def worker_shard() -> tuple[int, int]:
    """`(number of workers, this worker's index)` from TF_CONFIG (the chief first)."""
    cluster, task = _cluster()
    chiefs = len(cluster.get("chief", []))
    index = task.get("index", 0) + (chiefs if task.get("type", "worker") == "worker" else 0)
    return chiefs + len(cluster.get("worker", [])), index


def is_multi_worker(strategy) -> bool:
    """Whether `strategy` spans several workers."""
    extended = getattr(strategy, "extended", None)
    return bool(getattr(extended, "_in_multi_worker_mode", lambda: False)())


@contextlib.contextmanager
def quiet_end_of_data():
    """Hides Keras' "Your input ran out of data" warning: a streamed table has no length."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        yield
