import matplotlib.image
import numpy as np
import pytest

from mtl_keras.plotting import plot_training, task_names_in

HISTORY = {"loss": [3.0, 2.0, 1.5], "a_loss": [1.0, 0.7, 0.5], "b_loss": [2.0, 1.3, 1.0],
           "a_weight": [1.0, 0.9, 0.8], "b_weight": [1.0, 1.1, 1.2],
           "val_a_loss": [1.1, 0.8, 0.6], "val_b_loss": [2.1, 1.4, 1.2]}


def test_writes_a_png(tmp_path):
    path = plot_training(HISTORY, tmp_path / "run.png", title="dwa")
    assert path == str(tmp_path / "run.png")
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (600, 700)                 # 7 x 6 inches at 100 dpi
    assert np.unique(image.reshape(-1, image.shape[-1]), axis=0).shape[0] > 10


def test_task_names_from_history():
    assert task_names_in(HISTORY) == ["a", "b"]


def test_bad_input(tmp_path):
    with pytest.raises(TypeError, match="Expected a `keras.callbacks.History`"):
        plot_training([1, 2], tmp_path / "x.png")
    with pytest.raises(ValueError, match="<task>_weight` entries"):
        plot_training({"loss": [1.0]}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="for tasks \\['c'\\]"):
        plot_training(HISTORY, tmp_path / "x.png", tasks=["a", "c"])
