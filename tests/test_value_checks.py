"""The fused batch check (`value_checks._fused_oks`) agrees with the per-rule checks.

A passing training batch is checked a few ops per group of labels of one dtype
and shape; a failing one is reported rule by rule. Both must say the same thing
for every kind of task, dtype and shape, with missing labels (NaN, negative),
infinities, values at the bounds and empty batches.
"""

import numpy as np
import pytest
import tensorflow as tf

import mtl_keras as mtl
from mtl_keras import value_checks

TASKS = [
    mtl.Task("r32", "regression"),
    mtl.Task("r64", "regression"),
    mtl.Task("b", "binary"),
    mtl.Task("bi", "binary"),
    mtl.Task("c", "multiclass", num_classes=5),
    mtl.Task("cf", "multiclass", num_classes=5),
    mtl.Task("m", "multilabel", num_classes=3),
    mtl.Task("c2", "multiclass", num_classes=3),
]


def _labels(rng, n):
    return {
        "r32": rng.normal(size=n).astype("float32"),
        "r64": rng.normal(size=n),
        "b": rng.integers(0, 2, n).astype("float32"),
        "bi": rng.integers(0, 2, n).astype("int32"),
        "c": rng.integers(0, 5, n).astype("int32"),
        "cf": rng.integers(0, 5, n).astype("float32"),
        "m": rng.integers(0, 2, (n, 3)).astype("float32"),
        "c2": rng.integers(0, 3, n).astype("int32"),
    }


# Values written into one entry of one task's labels, and whether the batch
# stays valid.
EDITS = [
    ("r32", np.nan, True), ("r32", np.inf, False), ("r32", -np.inf, False),
    ("r32", np.finfo("float32").max, True), ("r32", -np.finfo("float32").max, True),
    ("r64", np.inf, False), ("r64", 1e300, True),
    ("b", -1.0, True), ("b", np.nan, True), ("b", 1.0, True), ("b", 1.5, False),
    ("b", -np.inf, True), ("b", np.inf, False), ("b", 0.3, True),
    ("bi", 2, False), ("bi", -1, True),
    ("c", 4, True), ("c", 5, False), ("c", -7, True),
    ("cf", 4.0, True), ("cf", 5.0, False), ("cf", 0.5, False), ("cf", np.nan, True),
    ("m", 2.0, False), ("m", np.nan, True), ("m", -1.0, True),
    ("c2", 3, False), ("c2", 2, True),
]


def _fused_and_per_rule(labels, x=None, sample_weight=None):
    checks = value_checks._value_checks(TASKS, x, {k: tf.constant(v) for k, v in labels.items()},
                                        sample_weight)
    fused = bool(tf.reduce_all(tf.stack(value_checks._fused_oks(checks))))
    per_rule = all(bool(rule.ok()) for rule in checks)
    return fused, per_rule


@pytest.mark.parametrize("task,value,valid", EDITS)
def test_fused_check_agrees_with_each_rule(task, value, valid):
    rng = np.random.default_rng(0)
    labels = _labels(rng, 16)
    entry = labels[task].reshape(-1)
    entry[7] = value
    fused, per_rule = _fused_and_per_rule(labels)
    assert fused == per_rule == valid


def test_fused_check_groups_labels_by_dtype_and_shape():
    # 8 rules: r32, b, cf are float32 [n] (one group with bounds except cf),
    # bi, c, c2 int32 [n] (one group), r64 alone, m alone ([n, 3]).
    labels = _labels(np.random.default_rng(0), 4)
    checks = value_checks._value_checks(TASKS, None, labels, None)
    assert len(checks) == 8
    assert len(value_checks._fused_oks(checks)) == 5  # cf, {r32, b}, {bi, c, c2}, r64, m


def test_fused_check_passes_an_empty_batch_and_random_valid_batches():
    assert _fused_and_per_rule(_labels(np.random.default_rng(0), 0)) == (True, True)
    for seed in range(20):
        rng = np.random.default_rng(seed)
        labels = _labels(rng, 32)
        # Missing labels sprinkled everywhere.
        for key, values in labels.items():
            flat = values.reshape(-1)
            holes = rng.random(flat.size) < 0.3
            flat[holes] = np.nan if flat.dtype.kind == "f" else -1
        assert _fused_and_per_rule(labels) == (True, True)


def test_fused_check_under_a_traced_step_with_unknown_batch_size():
    labels = _labels(np.random.default_rng(0), 8)
    spec = {k: tf.TensorSpec([None] + list(v.shape[1:]), v.dtype) for k, v in labels.items()}

    @tf.function(input_signature=[spec])
    def check(y):
        return value_checks.assert_batch_values(TASKS, None, y)

    assert bool(check({k: tf.constant(v) for k, v in labels.items()}))
    labels["c"][3] = 9
    with pytest.raises(ValueError, match=r"Task 'c' \(multiclass\) expects whole-number class "
                                         r"ids from 0 to 4.*Received: 9$"):
        with value_checks.readable_data_errors():
            check({k: tf.constant(v) for k, v in labels.items()})


def test_features_and_sample_weights_keep_their_own_checks():
    labels = _labels(np.random.default_rng(0), 4)
    x = np.ones((4, 2), "float32")
    assert _fused_and_per_rule(labels, x=x) == (True, True)
    x[1, 1] = np.nan  # NaN is a missing label, never a valid feature
    assert _fused_and_per_rule(labels, x=x) == (False, False)
    assert _fused_and_per_rule(labels, sample_weight=np.array([1.0, 0.0, 2.0, -1.0])) == (
        False, False)
