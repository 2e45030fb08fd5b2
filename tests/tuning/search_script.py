"""A tiny loss-weight search run as a separate process by the resume and distributed tests.

Usage: python search_script.py DIRECTORY MAX_TRIALS RUN_LOG [EPOCH_SLEEP]

Each trial appends one line to RUN_LOG when its training starts, so a test can
count the trials a process actually ran. KerasTuner's distributed mode is set
by the KERASTUNER_* environment variables of the process.
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import mtl_keras as mtl  # noqa: E402
from mtl_keras.tuning import LossWeightHyperModel, LossWeightTuner  # noqa: E402

TASKS = [mtl.Task("a", "binary"), mtl.Task("b", "regression")]


def build(hp, weights):
    return mtl.build_hard_sharing(keras.Input((3,)), mtl.backbones.mlp([8]), TASKS)


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype("float32")
    return x, {"a": (x[:, 0] > 0).astype("float32"), "b": x[:, 1]}


class RunLog(keras.callbacks.Callback):
    """Appends a line per trial to a file (survives KerasTuner's deepcopy of callbacks)."""

    def __init__(self, path, sleep):
        super().__init__()
        self.path = path
        self.sleep = sleep

    def on_train_begin(self, logs=None):
        with open(self.path, "a") as f:
            f.write(f"{os.getpid()}\n")

    def on_epoch_end(self, epoch, logs=None):
        time.sleep(self.sleep)


def make_tuner(directory, max_trials):
    return LossWeightTuner(LossWeightHyperModel(build, TASKS, objective="b_mae", seed=0),
                           max_trials=max_trials, directory=directory, project_name="search",
                           overwrite=False)


def main(directory, max_trials, run_log, sleep=0.0):
    x, y = data()
    tuner = make_tuner(directory, int(max_trials))
    tuner.search(x, y, validation_data=(x, y), epochs=2, batch_size=16, verbose=0,
                 callbacks=[RunLog(run_log, float(sleep))])


if __name__ == "__main__":
    main(*sys.argv[1:])
