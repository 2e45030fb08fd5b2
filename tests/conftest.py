"""Shared test setup: quiet TensorFlow, a fresh Keras session and seed per test."""

import gc
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import pytest  # noqa: E402

# A full garbage collection takes 0.3-1.4 s in a process holding TensorFlow's
# objects; once per test (twice, before and after) it was 70 % of the suite's
# time. Collected every `_COLLECT_EVERY` tests instead, which keeps a worker's
# memory bounded (Python's own collector runs in between too).
_COLLECT_EVERY = 25
_tests_run = 0


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    global _tests_run
    _tests_run += 1
    if _tests_run % _COLLECT_EVERY == 0:
        gc.collect()
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(0)
    yield
    keras.backend.clear_session(free_memory=False)
