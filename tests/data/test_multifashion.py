"""Tests of MultiFashion on a small synthetic stand-in in Fashion-MNIST's IDX format."""

import gzip
import struct

import numpy as np
import pytest

import mtl_keras as mtl
from mtl_keras.data import multifashion


def _write_idx(path, array):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(">" + "I" * array.ndim, *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def _stand_in(directory, n=6):
    """Item i is a 28x28 image of constant value 10 * (i + 1), class i % 10."""
    images = np.stack([np.full((28, 28), 10 * (i + 1)) for i in range(n)])
    labels = np.arange(n) % 10
    for split, (img_name, lbl_name) in multifashion._FILES.items():
        _write_idx(directory / img_name, images)
        _write_idx(directory / lbl_name, labels)
    return images, labels


def test_read_idx_round_trip(tmp_path):
    images, labels = _stand_in(tmp_path)
    x, y = multifashion.load_fashion_mnist("train", path=str(tmp_path))
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)


def test_compose_hand_computed():
    left = np.full((1, 28, 28), 255, np.uint8)
    right = np.full((1, 28, 28), 51, np.uint8)
    out = multifashion.compose(left, right)
    assert out.shape == (1, 28, 28) and out.dtype == np.float32
    # Canvas 36x36: left item (1.0) on rows/cols 0..27, right item (0.2) on 8..35
    # where the left one does not cover it (max overlay), 0 elsewhere. Resizing by
    # 28/36 samples canvas pixel (i + 0.5) * 36 / 28 - 0.5.
    assert out[0, 0, 0] == pytest.approx(1.0)
    assert out[0, 27, 27] == pytest.approx(0.2)
    assert out[0, 0, 27] == pytest.approx(0.0)
    assert out[0, 27, 0] == pytest.approx(0.0)


def test_pairs_labels_and_determinism(tmp_path):
    images, labels = _stand_in(tmp_path)
    x, y = mtl.data.load_multifashion("train", path=str(tmp_path), seed=3)
    assert x.shape == (6, 28, 28) and sorted(y) == ["left", "right"]
    # Each example is two different items; the constant values identify them.
    top_left = np.rint(x[:, 0, 0] * 255 / 10).astype(int) - 1
    bottom_right = np.rint(x[:, 27, 27] * 255 / 10).astype(int) - 1
    np.testing.assert_array_equal(y["left"], labels[top_left])
    np.testing.assert_array_equal(y["right"], labels[bottom_right])
    assert np.all(top_left != bottom_right)
    x2, y2 = mtl.data.load_multifashion("train", path=str(tmp_path), seed=3)
    np.testing.assert_array_equal(x, x2)
    x3, y3 = mtl.data.load_multifashion("train", path=str(tmp_path), num_examples=4, seed=3)
    np.testing.assert_array_equal(x3, x[:4])
    _, y4 = mtl.data.load_multifashion("train", path=str(tmp_path), seed=4)
    assert (y4["left"].tolist(), y4["right"].tolist()) != (y["left"].tolist(), y["right"].tolist())
    assert [t.name for t in mtl.data.multifashion_tasks()] == ["left", "right"]


def test_missing_files_say_how_to_install(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        mtl.data.load_multifashion("train", path=str(tmp_path))


def test_bad_split_and_num_examples(tmp_path):
    _stand_in(tmp_path)
    with pytest.raises(ValueError, match="Expected split in"):
        mtl.data.load_multifashion("validation", path=str(tmp_path))
    with pytest.raises(ValueError, match=r"Expected 1 <= num_examples <= 6"):
        mtl.data.load_multifashion("train", path=str(tmp_path), num_examples=7)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x0c\x01"))
    with pytest.raises(ValueError, match="IDX file of unsigned bytes"):
        mtl.data.load_multifashion("train", path=str(tmp_path))
