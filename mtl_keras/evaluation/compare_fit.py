"""One fit of a paired comparison: build, train with validation selection, test, cost.

`fit_once` is what `mtl.evaluation.compare` runs for every (seed, model):
seeded (`keras.utils.set_random_seed`) and selected on the validation split's
unweighted task-loss sum (`val_task_loss_sum`, or `val_main_task_loss_sum`
when auxiliary tasks are trained), with the best epoch's weights restored
(never the test split), then evaluated once on the test split. Its record is
plain JSON, cached per fit by `compare`.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Sequence

__all__ = ["fit_once", "selection_key"]

LATENCY_WARMUP = 2
LATENCY_REPEATS = 15


def selection_key(tasks: Sequence[Any]) -> str:
    """The validation log a fit of `tasks` is selected on (lower is better)."""
    if any(t.auxiliary for t in tasks):
        return "val_main_task_loss_sum"
    return "val_task_loss_sum"


def _labels_only(dataset, tasks):
    """`dataset` with the labels (and per-task sample weights) of `tasks` only."""
    keys = [t.label_key for t in tasks]

    def keep(labels, where):
        if not isinstance(labels, dict):
            raise ValueError(
                f"Expected the {where} of the data's batches to be a dict keyed by task. "
                f"Received: {type(labels).__name__}")
        missing = [k for k in keys if k not in labels]
        if missing:
            raise ValueError(
                f"Expected labels for the tasks {keys} in the data's batches. Received "
                f"label keys {sorted(labels)} (without {missing})")
        return {k: labels[k] for k in keys}

    def select(*batch):
        if len(batch) == 3:
            weights = {k: v for k, v in batch[2].items() if k in keys} \
                if isinstance(batch[2], dict) else batch[2]
            return batch[0], keep(batch[1], "labels"), weights
        return batch[0], keep(batch[1], "labels")

    return dataset.map(select)


def _fresh(weighting):
    """A new strategy per fit: a `Weighting` instance is rebuilt from its config.

    One `Configuration` trains a model per seed; sharing its strategy object
    would carry state (learned weights, step counters, a built flag) from one
    fit into the next.
    """
    from mtl_keras.weighting import Weighting

    if isinstance(weighting, Weighting):
        return type(weighting).from_config(weighting.get_config())
    return weighting


def _latency_ms(model, features) -> float:
    """Median wall time (ms) of `model.predict_on_batch` on one batch, after warm-up."""
    for _ in range(LATENCY_WARMUP):
        model.predict_on_batch(features)
    times = []
    for _ in range(LATENCY_REPEATS):
        start = time.perf_counter()
        model.predict_on_batch(features)
        times.append(1000.0 * (time.perf_counter() - start))
    return statistics.median(times)


def fit_once(build: Callable, data: Any, tasks: Sequence[Any], *, weighting: Any, seed: int,
             epochs: int, batch_size: int, learning_rate: float,
             patience: int | None) -> dict:
    """Trains one model and returns its JSON record.

    Args:
        build: `build(data, tasks) -> MultiTaskModel`.
        data: Has `dataset(split, batch_size)` for `"train"`, `"validation"`
            and `"test"`, yielding `(features, {label_key: label})` batches.
        tasks: The `Task`s of this model (main and auxiliary).
        weighting: `compile`'s `weighting` argument.
        seed: Seed of `keras.utils.set_random_seed`, set before the model is built.
        epochs, batch_size, learning_rate: Training settings (Adam).
        patience: Stop after this many epochs without improvement of the
            selection quantity; None trains every epoch. Either way the best
            epoch's weights are restored.

    Returns:
        `{"test": {log: value}, "parameters", "train_seconds", "latency_ms",
        "best_epoch", "epochs_run", "selected_on"}`.

    Raises:
        TypeError: `build` returned something other than a `MultiTaskModel`.
        ValueError: The model's tasks differ from `tasks`, or the batches lack labels.
    """
    import keras

    from mtl_keras.model import MultiTaskModel

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = build(data, list(tasks))
    if not isinstance(model, MultiTaskModel):
        raise TypeError(
            "Expected build(data, tasks) to return a mtl_keras.MultiTaskModel. "
            f"Received: {type(model).__name__}")
    names = [t.name for t in tasks]
    if list(model.task_names) != names:
        raise ValueError(
            f"Expected build(data, tasks) to return a model of the tasks {names}. "
            f"Received: a model of {list(model.task_names)}")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), weighting=_fresh(weighting))
    monitor = selection_key(tasks)
    stopper = keras.callbacks.EarlyStopping(
        monitor=monitor, mode="min", patience=epochs if patience is None else patience,
        restore_best_weights=True)
    train = _labels_only(data.dataset("train", batch_size), tasks)
    validation = _labels_only(data.dataset("validation", batch_size), tasks)
    test = _labels_only(data.dataset("test", batch_size), tasks)
    start = time.perf_counter()
    history = model.fit(train, validation_data=validation, epochs=epochs, verbose=0,
                        callbacks=[stopper])
    seconds = time.perf_counter() - start
    if monitor not in history.history:
        raise ValueError(
            f"Expected the model to log {monitor!r} on the validation split (the selection "
            f"quantity). Received logs {sorted(history.history)}")
    logs = model.evaluate(test, return_dict=True, verbose=0)
    features = next(iter(test))[0]
    return {
        "test": {k: float(v) for k, v in logs.items()},
        "parameters": int(model.count_params()),
        "train_seconds": float(seconds),
        "latency_ms": float(_latency_ms(model, features)),
        "best_epoch": int(stopper.best_epoch) + 1,
        "epochs_run": len(history.epoch),
        "selected_on": monitor,
    }
