"""Trains with BackupAndRestore; optionally SIGKILLs itself mid-epoch (run by test_resume.py).

    python resume_script.py METHOD BACKUP_DIR OUT.npz [KILL_EPOCH]
"""

import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import mtl_keras as mtl  # noqa: E402

EPOCHS = 4


class KillMidEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.kill_epoch = epoch
        self.epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == self.kill_epoch and batch == 1:
            os.kill(os.getpid(), signal.SIGKILL)


def main(method, backup_dir, out, kill_epoch=None):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = {"c": (x[:, 0] > 0).astype("int32"), "r": (x[:, 1] * 3.0).astype("float32")}
    y["c"][::5] = -1
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    tasks = [mtl.Task("c", "binary"), mtl.Task("r", "regression")]
    model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]), tasks)
    model.compile(optimizer=keras.optimizers.Adam(0.01), weighting=method)
    callbacks = [keras.callbacks.BackupAndRestore(backup_dir)]
    if kill_epoch is not None:
        callbacks.append(KillMidEpoch(kill_epoch))
    model.fit(ds, epochs=EPOCHS, verbose=0, callbacks=callbacks)
    arrays = {f"model_{i}": w for i, w in enumerate(model.get_weights())}
    arrays.update({f"strategy_{v.path}": v.numpy() for v in model.weighting.variables})
    arrays.update({f"optimizer_{v.path}": v.numpy() for v in model.optimizer.variables})
    np.savez(out, **arrays)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3],
         int(sys.argv[4]) if len(sys.argv) > 4 else None)
