"""benchmarks/input_pipeline.py: the clock of the time a step is blocked on input."""

import os
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks")


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(BENCHMARKS)  # the script imports `_common` from its folder
    import input_pipeline

    yield input_pipeline
    sys.modules.pop("input_pipeline", None)


def _model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    return model


def _batches(delay: float):
    """Batches of 4 rows; each takes `delay` seconds to make (a sleep)."""
    def make(i):
        time.sleep(delay)
        return np.full((4, 2), i, np.float32), np.full((4, 1), i, np.float32)

    return tf.data.Dataset.range(1000).map(
        lambda i: tf.numpy_function(make, [i], (tf.float32, tf.float32), stateful=False),
        num_parallel_calls=1).map(lambda x, y: (tf.ensure_shape(x, (4, 2)),
                                                tf.ensure_shape(y, (4, 1)))).prefetch(1)


def test_a_slow_pipeline_blocks_the_step_and_a_ready_one_does_not(bench):
    # Each batch takes 30 ms to make, one at a time; the step takes a few
    # milliseconds: the step waits at least ~30 ms less a step for each.
    model = _model()
    clock = bench.BlockedClock(model)
    ready = iter(_batches(0.0).take(8).cache().repeat().prefetch(4))
    clock.seconds(ready, 3)  # trace
    slow = iter(_batches(0.03))
    next(slow)
    seconds, blocked = clock.seconds(slow, 10)
    assert 0.02 < blocked <= seconds
    share = bench.blocked_share(clock, _batches(0.03), 10, ready)
    assert 0.5 < share <= 1.0
    _, baseline = clock.seconds(ready, 10)
    assert baseline < 0.02  # a ready batch is taken at once
