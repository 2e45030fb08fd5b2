"""`shuffle_rows`: windows of consecutive rows, each permuted, rows kept aligned."""

import numpy as np
import pytest
import tensorflow as tf

from mtl_keras.data.tables.row_shuffle import shuffle_rows


def _batches(rows=10, batch=3):
    # Uneven batches (3, 3, 3, 1); every tensor of an element has the same rows.
    ids = np.arange(rows)
    return tf.data.Dataset.from_tensor_slices(
        ({"id": ids, "twice": 2 * ids[:, None]}, ids.astype(str))).batch(batch)


def _epoch(ds):
    return [(x["id"].tolist(), x["twice"][:, 0].tolist(), [int(s) for s in y])
            for x, y in ds.as_numpy_iterator()]


def test_each_window_is_a_permutation_of_its_rows_and_rows_stay_aligned():
    epoch = _epoch(shuffle_rows(_batches(), window_rows=4, seed=1))
    # Windows of 4 consecutive rows (the last has the remaining 2).
    assert [sorted(ids) for ids, _, _ in epoch] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    for ids, twice, labels in epoch:
        assert twice == [2 * i for i in ids] and labels == ids


def test_new_permutations_each_epoch_and_the_same_epochs_for_a_seed():
    ds = shuffle_rows(_batches(rows=64, batch=8), window_rows=32, seed=7)
    first, second = _epoch(ds), _epoch(ds)
    again = shuffle_rows(_batches(rows=64, batch=8), window_rows=32, seed=7)
    assert _epoch(again) == first and _epoch(again) == second
    assert first != second  # 32! orders per window: equal by chance with p ~ 1e-35
    assert first[0][0] != list(range(32))


def test_every_order_of_a_small_window_is_drawn_about_equally_often():
    ds = shuffle_rows(tf.data.Dataset.range(3).batch(3), window_rows=3, seed=0)
    counts = {}
    for window in ds.repeat(600).as_numpy_iterator():  # 600 epochs of one window
        counts[tuple(window.tolist())] = counts.get(tuple(window.tolist()), 0) + 1
    assert len(counts) == 6  # all 3! orders
    # 100 expected each; a uniform draw stays within 100 +- 40 with p > 0.999.
    assert all(60 <= c <= 140 for c in counts.values()), counts


@pytest.mark.parametrize("window", [0, -1, 2.5, True, "8"])
def test_bad_window(window):
    with pytest.raises(ValueError, match="Expected window_rows to be an int >= 1"):
        shuffle_rows(_batches(), window_rows=window)
