"""MultiFashion: two Fashion-MNIST items on one image, one task per item.

The MultiMNIST recipe of Sener & Koltun ("Multi-Task Learning as
Multi-Objective Optimization", NeurIPS 2018), applied to Fashion-MNIST as in
Lin et al. ("Pareto Multi-Task Learning", NeurIPS 2019): for each example,
one item is placed at the top-left and another at the bottom-right of a 36x36
canvas (offset 8 pixels), the two are overlaid (pixel-wise maximum) and the
canvas is resized to 28x28 (bilinear). Task `"left"` is the class of the
top-left item, task `"right"` that of the bottom-right one (10 classes each).

Source: Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017; MIT licence), read from
the IDX files that Debian's package `dataset-fashion-mnist` installs under
`/usr/share/datasets/fashion-mnist` (`apt-get install dataset-fashion-mnist`).
Nothing is downloaded. Everything is deterministic given `seed`.
"""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np

from mtl_keras.tasks import Task

DEFAULT_PATH = "/usr/share/datasets/fashion-mnist"
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
CANVAS = 36
OFFSET = 8
SIZE = 28


def multifashion_tasks() -> list[Task]:
    """The two MultiFashion tasks: `"left"` and `"right"`, 10 classes each."""
    return [Task("left", "multiclass", num_classes=10),
            Task("right", "multiclass", num_classes=10)]


def read_idx(path: str) -> np.ndarray:
    """Reads an IDX file (as used by MNIST and Fashion-MNIST), gzipped or not.

    Args:
        path: File path; names ending in `.gz` are decompressed.

    Returns:
        A `uint8` array: `(n,)` for labels, `(n, rows, cols)` for images.

    Raises:
        ValueError: If the file is not an unsigned-byte IDX file.
    """
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(
            "Expected an IDX file of unsigned bytes (magic 0x0000080N). "
            f"Received: {path!r} starting with {data[:4]!r}"
        )
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    array = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(dims)):
        raise ValueError(
            f"Expected {int(np.prod(dims))} values for dims {dims} in {path!r}. "
            f"Received: {array.size}"
        )
    return array.reshape(dims)


def load_fashion_mnist(split: str = "train", path: str | None = None):
    """Fashion-MNIST images `(n, 28, 28)` uint8 and labels `(n,)` uint8.

    Args:
        split: `"train"` (60,000) or `"test"` (10,000).
        path: Directory with the IDX files (default: Debian's location).

    Raises:
        FileNotFoundError: When the files are missing, saying how to install them.
        ValueError: For an unknown split or images and labels that disagree.
    """
    if split not in _FILES:
        raise ValueError(f"Expected split in {list(_FILES)}. Received: split={split!r}")
    path = DEFAULT_PATH if path is None else os.fspath(path)
    files = [os.path.join(path, name) for name in _FILES[split]]
    missing = [f for f in files if not os.path.exists(f)]
    if missing:
        raise FileNotFoundError(
            "MultiFashion is built from Fashion-MNIST as shipped by Debian: install it "
            "with `apt-get install dataset-fashion-mnist` (files under "
            f"{DEFAULT_PATH}), or pass path= to a directory holding {list(_FILES[split])}. "
            f"Received: path={path!r}, missing {missing}"
        )
    images, labels = read_idx(files[0]), read_idx(files[1])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            "Expected images (n, rows, cols) and labels (n,) of the same length. "
            f"Received: images {images.shape}, labels {labels.shape}"
        )
    return images, labels


def compose(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Overlays item pairs on a 36x36 canvas and resizes them to 28x28.

    Args:
        left: `(n, 28, 28)` images placed at the top-left (rows/cols 0..27).
        right: `(n, 28, 28)` images placed at the bottom-right (rows/cols 8..35).

    Returns:
        float32 `(n, 28, 28)` in [0, 1].
    """
    import tensorflow as tf

    n = len(left)
    out = np.empty((n, SIZE, SIZE), np.float32)
    for start in range(0, n, 5000):
        stop = min(start + 5000, n)
        canvas = np.zeros((stop - start, CANVAS, CANVAS), np.float32)
        canvas[:, :SIZE, :SIZE] = left[start:stop]
        canvas[:, OFFSET:, OFFSET:] = np.maximum(canvas[:, OFFSET:, OFFSET:], right[start:stop])
        resized = tf.image.resize(canvas[..., None] / 255.0, (SIZE, SIZE), method="bilinear")
        out[start:stop] = resized.numpy()[..., 0]
    return out


def load_multifashion(
    split: str = "train",
    path: str | None = None,
    num_examples: int | None = None,
    seed: int = 0,
):
    """Builds the MultiFashion split: images and `{"left", "right"}` labels.

    Example `i` overlays source item `a[i]` (top-left) and `b[i]`
    (bottom-right), where `a` and `b` are two seeded permutations of the split
    (`b[i]` moved to the next item where it equals `a[i]`). A smaller
    `num_examples` gives a prefix of the full split.

    Args:
        split: `"train"` or `"test"`.
        path: Directory with the Fashion-MNIST IDX files (default: Debian's).
        num_examples: Build only the first `num_examples` examples (default: as
            many as the split has source items).
        seed: Seed of the pairing; the test split uses a different stream.

    Returns:
        `(images, labels)`: float32 `(n, 28, 28)` in [0, 1], and
        `{"left": int32 (n,), "right": int32 (n,)}`.

    Raises:
        FileNotFoundError: Fashion-MNIST is not installed (see the message).
        ValueError: An unknown split or a bad `num_examples`.

    Example:

    >>> import mtl_keras as mtl
    >>> x, y = mtl.data.load_multifashion("test", num_examples=8)  # doctest: +SKIP
    >>> x.shape, sorted(y)  # doctest: +SKIP
    ((8, 28, 28), ['left', 'right'])
    """
    images, labels = load_fashion_mnist(split, path)
    total = len(images)
    if num_examples is None:
        num_examples = total
    if not isinstance(num_examples, (int, np.integer)) or not 1 <= num_examples <= total:
        raise ValueError(
            f"Expected 1 <= num_examples <= {total}. Received: num_examples={num_examples!r}"
        )
    rng = np.random.default_rng([int(seed), 0 if split == "train" else 1])
    a = rng.permutation(total)[:num_examples]
    b = rng.permutation(total)[:num_examples]
    b = np.where(a == b, (b + 1) % total, b)  # never pair an item with itself
    x = compose(images[a], images[b])
    y = {"left": labels[a].astype(np.int32), "right": labels[b].astype(np.int32)}
    return x, y
