"""Shuffling the rows of a stream of batches, a window of rows at a time, vectorized.

`tf.data.Dataset.shuffle` on single rows costs each row a trip through
`unbatch`, the shuffle buffer and `batch`: on a 2-core CPU that is of the
order of the whole parse of a CSV row, and it takes cores from the training
step. `shuffle_rows` instead gathers consecutive rows into windows of
`window_rows` and permutes each window with one gather per column: every
permutation of a window is equally likely, and each epoch draws new ones.

Compared with a row shuffle buffer of the same size, rows mix within their
window only (a buffer also lets a few rows drift further); as with a buffer,
a table sorted by a column needs a window as large as the runs it should
break, or shuffled files.
"""

from __future__ import annotations

import tensorflow as tf


def shuffle_rows(ds: tf.data.Dataset, window_rows: int, seed: int | None = None) -> tf.data.Dataset:
    """Shuffles the rows of `ds`'s batches within windows of `window_rows` rows.

    Args:
        ds: Elements are nested structures of tensors whose first dimension
            is the rows of a batch (the same for every tensor of an element);
            batches may differ in size.
        window_rows: Rows per window (>= 1); the last window of an epoch may
            be smaller. The output's elements are the shuffled windows.
        seed: Seed of the permutations (a new permutation of every window
            each epoch; None: not reproducible).

    Returns:
        A dataset of windows with the structure of `ds`'s elements.

    Example:

    >>> ds = tf.data.Dataset.range(6).batch(4)
    >>> windows = list(shuffle_rows(ds, window_rows=3, seed=0).as_numpy_iterator())
    >>> sorted(windows[0].tolist()), sorted(windows[1].tolist())
    ([0, 1, 2], [3, 4, 5])
    """
    if not isinstance(window_rows, int) or isinstance(window_rows, bool) or window_rows < 1:
        raise ValueError(f"Expected window_rows to be an int >= 1. Received: {window_rows!r}")
    windows = ds.rebatch(window_rows)
    draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)

    def permute(element, draw):
        rows = tf.shape(tf.nest.flatten(element)[0], out_type=tf.int64)[0]
        order = tf.random.experimental.stateless_shuffle(
            tf.range(rows), seed=tf.stack([draw, tf.constant(0, tf.int64)]))
        return tf.nest.map_structure(lambda t: tf.gather(t, order), element)

    return tf.data.Dataset.zip((windows, draws)).map(
        tf.autograph.experimental.do_not_convert(permute), num_parallel_calls=tf.data.AUTOTUNE)


__all__ = [
    "shuffle_rows",
]
