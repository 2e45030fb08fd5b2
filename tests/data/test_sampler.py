"""Tests of `TaskSampler`: probabilities, determinism, masking, epochs, errors."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_keras as mtl
from mtl_keras.data.sampler import TaskSampler, mix_datasets


def _tasks():
    return [mtl.Task("a", "multiclass", num_classes=3), mtl.Task("b", "regression")]


def _datasets(n_a=100, n_b=400, width=2):
    """Task a: features filled with 1, class 2. Task b: features 2, target 5."""
    ds_a = tf.data.Dataset.from_tensor_slices(
        (np.ones((n_a, width), "float32"), np.full(n_a, 2, "int64")))
    ds_b = tf.data.Dataset.from_tensor_slices(
        (np.full((n_b, width), 2.0, "float32"), np.full(n_b, 5.0, "float32")))
    return {"a": ds_a, "b": ds_b}


def test_probabilities_hand_computed():
    cases = [
        ("uniform", {}, [0.5, 0.5]),
        ("round_robin", {}, [0.5, 0.5]),
        ("proportional", {}, [0.2, 0.8]),
        # sqrt(100) = 10, sqrt(400) = 20 -> 1/3, 2/3
        ("temperature", {"temperature": 2.0}, [1 / 3, 2 / 3]),
        # T = 1 is proportional
        ("temperature", {"temperature": 1.0}, [0.2, 0.8]),
        ("weights", {"weights": {"a": 3.0, "b": 1.0}}, [0.75, 0.25]),
        ("weights", {"weights": {"a": 1.0}}, [1.0, 0.0]),
    ]
    datasets = _datasets()
    for strategy, kwargs, expected in cases:
        sampler = TaskSampler(datasets, _tasks(), 10, strategy=strategy, **kwargs)
        np.testing.assert_allclose(sampler.probabilities(), expected, atol=1e-12,
                                   err_msg=strategy)


def test_annealed_moves_from_proportional_towards_uniform():
    # E = 5: alpha = 1, 0.8, 0.6, 0.4, 0.2 (Stickland & Murray 2019).
    sampler = TaskSampler(_datasets(), _tasks(), 10, strategy="annealed", num_epochs=5)
    assert [sampler.alpha(e) for e in range(5)] == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2])
    np.testing.assert_allclose(sampler.probabilities(0), [0.2, 0.8])
    # alpha = 0.2: 100**0.2 = 2.5119, 400**0.2 = 3.3145 -> 4**0.2 = 1.3195 times a
    ratio = 4 ** 0.2
    np.testing.assert_allclose(sampler.probabilities(4), [1 / (1 + ratio), ratio / (1 + ratio)])
    # Past the last epoch it stays at alpha = 0.2.
    np.testing.assert_allclose(sampler.probabilities(9), sampler.probabilities(4))


def test_steps_per_epoch_definitions():
    mixed = TaskSampler(_datasets(100, 405), _tasks(), 50)
    assert mixed.steps_per_epoch == math.ceil(505 / 50) == 11
    single = TaskSampler(_datasets(100, 405), _tasks(), 50, mix="batches")
    assert single.steps_per_epoch == 2 + 9
    assert TaskSampler(_datasets(), _tasks(), 50, steps_per_epoch=3).steps_per_epoch == 3


def test_sizes_counted_for_unknown_cardinality():
    datasets = _datasets(30, 60)
    datasets["a"] = datasets["a"].filter(lambda x, y: True)
    assert int(datasets["a"].cardinality()) == tf.data.UNKNOWN_CARDINALITY
    sampler = TaskSampler(datasets, _tasks(), 10)
    assert sampler.sizes == {"a": 30, "b": 60}


def test_same_seed_same_batches_other_seed_other_order():
    def first_batches(seed):
        sampler = TaskSampler(_datasets(), _tasks(), 8, strategy="uniform",
                              shuffle_buffer=50, seed=seed)
        return [y["a"].numpy().tolist() for _, y in sampler.dataset().take(3)]

    assert first_batches(1) == first_batches(1)
    assert first_batches(1) != first_batches(2)


def test_empirical_frequencies_close_to_target():
    sampler = TaskSampler(_datasets(), _tasks(), 100, strategy="temperature",
                          temperature=2.0, steps_per_epoch=100)
    draws = sampler.schedule(0)
    assert len(draws) == 10_000
    # 10,000 draws: the std of the frequency is sqrt(p (1 - p) / n) = 0.0047.
    assert np.mean(draws == 0) == pytest.approx(1 / 3, abs=0.02)
    # A new epoch draws anew.
    assert not np.array_equal(draws, sampler.schedule(1))


def test_mixed_batches_mask_the_other_tasks_labels():
    sampler = TaskSampler(_datasets(), _tasks(), 16, strategy="uniform")
    x, y = next(iter(sampler.dataset()))
    from_a = x[:, 0].numpy() == 1.0
    assert 0 < from_a.sum() < 16
    np.testing.assert_array_equal(y["a"].numpy(), np.where(from_a, 2, -1))
    b = y["b"].numpy()
    assert np.all(np.isnan(b[from_a])) and np.all(b[~from_a] == 5.0)
    assert y["a"].dtype == tf.int32 and y["b"].dtype == tf.float32


def test_round_robin_alternates_examples_and_single_task_batches():
    rr = TaskSampler(_datasets(), _tasks(), 4, strategy="round_robin")
    np.testing.assert_array_equal(rr.schedule(0)[:6], [0, 1, 0, 1, 0, 1])
    single = TaskSampler(_datasets(), _tasks(), 4, strategy="round_robin", mix="batches")
    batches = list(single.dataset().take(4))
    for i, (x, y) in enumerate(batches):
        own = "a" if i % 2 == 0 else "b"
        other = "b" if own == "a" else "a"
        assert np.all(x.numpy() == (1.0 if own == "a" else 2.0))
        if own == "a":
            assert np.all(y["a"].numpy() == 2) and np.all(np.isnan(y["b"].numpy()))
        else:
            assert np.all(y["b"].numpy() == 5.0) and np.all(y[other].numpy() == -1)


def test_small_dataset_is_repeated_and_num_epochs_bounds_the_stream():
    sampler = TaskSampler(_datasets(3, 3), _tasks(), 4, strategy="round_robin",
                          steps_per_epoch=5, num_epochs=2)
    batches = list(sampler.dataset())
    assert len(batches) == 10  # 2 epochs x 5 batches, though each dataset has 3 examples
    assert sum(int(np.sum(y["a"].numpy() == 2)) for _, y in batches) == 20


def test_dict_labels_and_label_key():
    tasks = [mtl.Task("a", "binary", label_key="is_a"), mtl.Task("b", "binary")]
    x = np.zeros((6, 2), "float32")
    datasets = {
        "a": tf.data.Dataset.from_tensor_slices((x, {"is_a": np.ones(6, "int32")})),
        "b": tf.data.Dataset.from_tensor_slices((x, np.zeros(6, "int32"))),
    }
    ds, steps = mix_datasets(datasets, tasks, 4, strategy="round_robin")
    _, y = next(iter(ds))
    assert steps == 3
    assert y["is_a"].numpy().tolist() == [1, -1, 1, -1]
    assert y["b"].numpy().tolist() == [-1, 0, -1, 0]


def test_mixed_dataset_trains_a_multitask_model():
    sampler = TaskSampler(_datasets(40, 80), _tasks(), 20, strategy="annealed", num_epochs=2)
    model = mtl.build_hard_sharing(keras.Input((2,)), mtl.backbones.mlp([4]), _tasks())
    model.compile(optimizer="adam")
    history = model.fit(sampler.dataset(), epochs=2, steps_per_epoch=sampler.steps_per_epoch,
                        validation_data=sampler.evaluation_dataset(), verbose=0)
    assert sampler.steps_per_epoch == 6
    assert len(history.history["loss"]) == 2
    assert all(np.isfinite(history.history["a_loss"] + history.history["b_loss"]))
    assert all(np.isfinite(history.history["val_a_loss"] + history.history["val_b_loss"]))


def test_evaluation_dataset_covers_every_example_once():
    sampler = TaskSampler(_datasets(5, 7), _tasks(), 4, strategy="uniform")
    batches = list(sampler.evaluation_dataset())
    assert [int(x.shape[0]) for x, _ in batches] == [4, 4, 4]
    a = np.concatenate([y["a"].numpy() for _, y in batches])
    b = np.concatenate([y["b"].numpy() for _, y in batches])
    np.testing.assert_array_equal(a, [2] * 5 + [-1] * 7)
    np.testing.assert_array_equal(np.isnan(b), [True] * 5 + [False] * 7)


# ------------------------------------------------------------------ bad input
def test_error_feature_structures_differ():
    datasets = _datasets()
    datasets["b"] = tf.data.Dataset.from_tensor_slices(
        ({"x": np.zeros((4, 2), "float32")}, np.zeros(4, "float32")))
    with pytest.raises(ValueError, match="same feature structure.*Received: task 'a'"):
        TaskSampler(datasets, _tasks(), 4)


def test_error_feature_dtypes_differ():
    datasets = _datasets()
    datasets["b"] = tf.data.Dataset.from_tensor_slices(
        (np.zeros((4, 2), "int32"), np.zeros(4, "float32")))
    with pytest.raises(ValueError, match="same feature structure"):
        TaskSampler(datasets, _tasks(), 4)


def test_error_bad_sampling_weights():
    for weights in ({"a": -1.0, "b": 2.0}, {"a": 0.0, "b": 0.0}):
        with pytest.raises(ValueError, match="non-negative sampling weights with a positive"):
            TaskSampler(_datasets(), _tasks(), 4, strategy="weights", weights=weights)


def test_error_empty_dataset():
    datasets = _datasets()
    datasets["a"] = datasets["a"].take(0)
    with pytest.raises(ValueError, match="non-empty dataset for task 'a'"):
        TaskSampler(datasets, _tasks(), 4)


def test_error_empty_dataset_of_unknown_cardinality():
    datasets = _datasets()
    datasets["b"] = datasets["b"].filter(lambda x, y: False)
    with pytest.raises(ValueError, match="non-empty dataset for task 'b'"):
        TaskSampler(datasets, _tasks(), 4)


def test_error_bad_arguments():
    cases = [
        ({"strategy": "annealed"}, "expected num_epochs"),
        ({"strategy": "temperature", "temperature": 0.0},
         "Expected temperature to be finite and > 0. Received: temperature=0.0"),
        ({"strategy": "sorted"}, "Expected strategy to be one of"),
        ({"mix": "tasks"}, "Expected mix to be one of"),
        ({"weights": {"a": 1.0}}, "used only by strategy='weights'"),
    ]
    datasets = _datasets()
    for kwargs, match in cases:
        with pytest.raises(ValueError, match=match):
            TaskSampler(datasets, _tasks(), 4, **kwargs)


def test_error_missing_task_dataset_and_infinite_dataset():
    with pytest.raises(ValueError, match="one dataset per task"):
        TaskSampler({"a": _datasets()["a"]}, _tasks(), 4)
    datasets = _datasets()
    datasets["a"] = datasets["a"].repeat()
    with pytest.raises(ValueError, match="is infinite"):
        TaskSampler(datasets, _tasks(), 4)
    assert TaskSampler(datasets, _tasks(), 4, sizes={"a": 100}).sizes["a"] == 100


def test_error_labels_do_not_fit_task():
    datasets = _datasets()
    datasets["a"] = tf.data.Dataset.from_tensor_slices(
        (np.ones((4, 2), "float32"), np.zeros((4, 3), "int64")))  # one-hot, not ids
    with pytest.raises(ValueError, match="expects labels of shape"):
        TaskSampler(datasets, _tasks(), 4)
