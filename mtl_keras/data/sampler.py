"""`TaskSampler`: mixes one `tf.data` dataset per task into multi-task batches.

Real multi-task data often comes as separate labelled corpora, one per task.
`TaskSampler` draws from them and yields the `(features, {task: label})`
batches that `MultiTaskModel.fit` takes. Every label dict holds every task's
key; the tasks an example does not come from get the missing-label sentinel
(-1 for class ids, NaN for regression targets), so they are left out of those
tasks' losses and metrics.

Strategies (`p_i` is the probability of drawing from task `i`, `n_i` its
dataset size):

* `"round_robin"`: tasks in turn, `0, 1, ..., K-1, 0, 1, ...` (no randomness);
* `"uniform"`: `p_i = 1 / K`;
* `"proportional"`: `p_i = n_i / sum_j n_j` (as if the datasets were
  concatenated and shuffled);
* `"temperature"`: `p_i ∝ n_i ** (1 / T)` (T = 1 is proportional, T -> inf
  uniform; Arivazhagan et al., "Massively Multilingual Neural Machine
  Translation in the Wild", 2019);
* `"annealed"`: `p_i ∝ n_i ** alpha` with `alpha = 1 - 0.8 (e - 1) / (E - 1)` at
  epoch `e = 1..E`, moving from proportional towards uniform (Stickland &
  Murray, "BERT and PALs: Projected Attention Layers for Efficient Adaptation
  in Multi-Task Learning", ICML 2019);
* `"weights"`: `p_i ∝ w_i` for user weights.

Epochs. The per-task datasets are repeated (each pass reshuffled when
`shuffle_buffer` is set), so a small dataset is revisited while a large one is
still being read. One *epoch* is `steps_per_epoch` batches; by default as many
as it takes to draw, in expectation, every example once: `ceil(sum_i n_i /
batch_size)` for mixed batches, `sum_i ceil(n_i / batch_size)` for
single-task batches. Pass `steps_per_epoch=sampler.steps_per_epoch` to
`model.fit`, so Keras keeps reading the same stream across epochs.

Determinism. The task drawn at every position of epoch `e` comes from a
stateless generator seeded with `(seed, e)`, and per-task shuffling is seeded
with `seed`: the same seed gives the same batches, run after run.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import tensorflow as tf

from mtl_keras._validators import check_choice, check_int, check_number
from mtl_keras.data.per_task import (
    check_same_features,
    dataset_size,
    standardize,
    with_masked_labels,
)
from mtl_keras.tasks import Task

STRATEGIES = ("round_robin", "uniform", "proportional", "temperature", "annealed", "weights")
MIXES = ("examples", "batches")


class TaskSampler:
    """Draws batches for `model.fit` from one dataset per task.

    Args:
        datasets: `{task_name: tf.data.Dataset}` of unbatched examples, each
            yielding `(features, label)` or `(features, {label_key: label, ...})`.
            Every dataset must yield the same feature structure (names, dtypes,
            compatible shapes).
        tasks: The model's `mtl_keras.Task` list. Every task needs a dataset.
        batch_size: Examples per batch.
        strategy: One of `"round_robin"`, `"uniform"`, `"proportional"`,
            `"temperature"`, `"annealed"`, `"weights"` (see the module docs).
        temperature: T of `"temperature"` sampling, > 0.
        weights: `{task_name: weight}` for `"weights"` sampling; non-negative,
            summing to more than 0.
        num_epochs: Total epochs E. Required by `"annealed"`; otherwise, when
            given, `dataset()` ends after `num_epochs * steps_per_epoch` batches
            (else it is infinite).
        steps_per_epoch: Batches per epoch (default: see the module docs).
        mix: `"examples"` (default): the task is drawn per example, so batches
            mix tasks. `"batches"`: the task is drawn per batch, so every batch
            holds one task's examples (single-task batches interleaved; the
            other tasks get zero loss on that step).
        shuffle_buffer: If set, each per-task dataset is shuffled with this
            buffer (reshuffled on every pass, seeded).
        sizes: Optional `{task_name: number of examples}`; needed for datasets
            of infinite cardinality, otherwise counted.
        seed: Seed of the task draws and of the shuffling.

    Raises:
        ValueError: Missing or unknown tasks, an empty dataset, feature
            structures that differ between tasks, labels that do not fit a
            task, an unknown strategy, a temperature <= 0, sampling weights
            that are negative or sum to zero, `"annealed"` without
            `num_epochs`.

    Example:

    >>> import keras, numpy as np, tensorflow as tf, mtl_keras as mtl
    >>> tasks = [mtl.Task("a", "binary"), mtl.Task("b", "regression")]
    >>> ds_a = tf.data.Dataset.from_tensor_slices((np.zeros((100, 4), "float32"),
    ...                                            np.ones(100, "int32")))
    >>> ds_b = tf.data.Dataset.from_tensor_slices((np.zeros((400, 4), "float32"),
    ...                                            np.ones(400, "float32")))
    >>> sampler = mtl.data.TaskSampler({"a": ds_a, "b": ds_b}, tasks, batch_size=50,
    ...                                strategy="temperature", temperature=2.0)
    >>> sampler.probabilities().round(3).tolist()
    [0.333, 0.667]
    >>> sampler.steps_per_epoch
    10
    >>> model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]), tasks)
    >>> model.compile(optimizer="adam")
    >>> history = model.fit(sampler.dataset(), epochs=2,
    ...                     steps_per_epoch=sampler.steps_per_epoch, verbose=0)
    >>> len(history.history["loss"])
    2
    """

    def __init__(
        self,
        datasets: Mapping[str, tf.data.Dataset],
        tasks: Sequence[Task],
        batch_size: int,
        strategy: str = "proportional",
        temperature: float = 2.0,
        weights: Mapping[str, float] | None = None,
        num_epochs: int | None = None,
        steps_per_epoch: int | None = None,
        mix: str = "examples",
        shuffle_buffer: int | None = None,
        sizes: Mapping[str, int] | None = None,
        seed: int = 0,
    ):
        self.tasks = list(tasks)
        if not self.tasks or not all(isinstance(t, Task) for t in self.tasks):
            raise ValueError(
                f"Expected a non-empty list of mtl_keras.Task. Received: tasks={tasks!r}"
            )
        names = [t.name for t in self.tasks]
        if not isinstance(datasets, Mapping):
            raise TypeError(
                "Expected datasets to be a dict {task_name: tf.data.Dataset}. "
                f"Received: {type(datasets).__name__}"
            )
        if sorted(datasets) != sorted(names):
            raise ValueError(
                f"Expected one dataset per task, keyed by the task names {names}. "
                f"Received keys: {sorted(datasets)}"
            )
        for name, ds in datasets.items():
            if not isinstance(ds, tf.data.Dataset):
                raise TypeError(
                    f"Expected a tf.data.Dataset for task {name!r}. Received: {ds!r}"
                )
        batch_size = check_int(batch_size, "batch_size", min_value=1)
        check_choice(strategy, "strategy", STRATEGIES)
        check_choice(mix, "mix", MIXES)
        if strategy == "temperature":
            check_number(temperature, "temperature", min_value=0, min_exclusive=True)
        num_epochs = check_int(num_epochs, "num_epochs", min_value=1, allow_none=True)
        if strategy == "annealed" and num_epochs is None:
            raise ValueError(
                "Annealed sampling moves from proportional to near-uniform over the "
                "run: expected num_epochs (the total E). Received: num_epochs=None"
            )
        self.batch_size = batch_size
        self.strategy = strategy
        self.temperature = float(temperature)
        self.num_epochs = num_epochs
        self.mix = mix
        self.shuffle_buffer = check_int(shuffle_buffer, "shuffle_buffer", min_value=1,
                                        allow_none=True)
        self.seed = check_int(seed, "seed")
        self._weights = self._check_weights(weights, names) if strategy == "weights" else None
        if strategy != "weights" and weights is not None:
            raise ValueError(
                "weights are used only by strategy='weights'. Received: "
                f"strategy={strategy!r}, weights={weights!r}"
            )
        standardized = {t.name: standardize(datasets[t.name], t) for t in self.tasks}
        check_same_features(standardized)
        label_specs = {t.label_key: standardized[t.name][2] for t in self.tasks}
        self._datasets = [
            with_masked_labels(standardized[t.name], t, self.tasks, label_specs)
            for t in self.tasks
        ]
        self.sizes = {
            t.name: dataset_size(datasets[t.name], t.name, (sizes or {}).get(t.name))
            for t in self.tasks
        }
        if steps_per_epoch is None:
            n = list(self.sizes.values())
            if mix == "examples":
                steps_per_epoch = math.ceil(sum(n) / batch_size)
            else:
                steps_per_epoch = sum(math.ceil(k / batch_size) for k in n)
        self.steps_per_epoch = check_int(steps_per_epoch, "steps_per_epoch", min_value=1)

    # -------------------------------------------------------------- validation
    @staticmethod
    def _check_weights(weights, names):
        if not isinstance(weights, Mapping):
            raise ValueError(
                "Expected weights to be a dict {task_name: weight} for strategy='weights'. "
                f"Received: weights={weights!r}"
            )
        unknown = sorted(set(weights) - set(names))
        if unknown:
            raise ValueError(
                f"Expected sampling weights for tasks among {names}. Received unknown "
                f"tasks: {unknown}"
            )
        values = np.array([float(weights.get(n, 0.0)) for n in names])
        if not np.all(np.isfinite(values)) or np.any(values < 0) or values.sum() <= 0:
            raise ValueError(
                "Expected finite, non-negative sampling weights with a positive sum. "
                f"Received: weights={dict(weights)!r}"
            )
        return values

    # ----------------------------------------------------------- probabilities
    def alpha(self, epoch: int = 0) -> float:
        """Exponent of annealed sampling at 0-based `epoch`: 1 -> 0.2 over the run."""
        if self.num_epochs is None or self.num_epochs == 1:
            return 1.0
        e = min(max(int(epoch), 0), self.num_epochs - 1)
        return 1.0 - 0.8 * e / (self.num_epochs - 1)

    def probabilities(self, epoch: int = 0) -> np.ndarray:
        """The `(num_tasks,)` probabilities of drawing each task at 0-based `epoch`.

        Round robin visits the tasks in turn: its long-run frequencies are uniform.
        """
        n = np.array([self.sizes[t.name] for t in self.tasks], dtype=np.float64)
        k = len(n)
        if self.strategy in ("round_robin", "uniform"):
            p = np.ones(k)
        elif self.strategy == "proportional":
            p = n
        elif self.strategy == "temperature":
            p = n ** (1.0 / self.temperature)
        elif self.strategy == "annealed":
            p = n ** self.alpha(epoch)
        else:
            p = self._weights
        return p / p.sum()

    def schedule(self, epoch: int = 0) -> np.ndarray:
        """Task indices drawn in 0-based `epoch`: one per example (`mix="examples"`)
        or one per batch (`mix="batches"`)."""
        return self._choices(tf.constant(epoch, tf.int64)).numpy()

    def _draws_per_epoch(self):
        return self.steps_per_epoch * (self.batch_size if self.mix == "examples" else 1)

    def _choices(self, epoch):
        n = self._draws_per_epoch()
        k = len(self.tasks)
        if self.strategy == "round_robin":
            return tf.range(n, dtype=tf.int64) % k
        if self.strategy == "annealed":
            # One row of probabilities per epoch, clamped to the last one.
            table = np.stack([self.probabilities(e) for e in range(self.num_epochs)])
            probs = tf.gather(tf.constant(table), tf.minimum(epoch, self.num_epochs - 1))
        else:
            probs = tf.constant(self.probabilities())
        logits = tf.math.log(probs)[tf.newaxis, :]
        seed = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(epoch, tf.int64)])
        return tf.random.stateless_categorical(logits, n, seed=seed, dtype=tf.int64)[0]

    # ----------------------------------------------------------------- dataset
    def dataset(self) -> tf.data.Dataset:
        """Batches `(features, {label_key: label})` with other tasks' labels masked.

        Infinite unless `num_epochs` was given (then `num_epochs *
        steps_per_epoch` batches). Train with
        `model.fit(ds, epochs=E, steps_per_epoch=sampler.steps_per_epoch)`.
        """
        sources = []
        for i, ds in enumerate(self._datasets):
            if self.shuffle_buffer:
                ds = ds.shuffle(self.shuffle_buffer, seed=self.seed * 1009 + i,
                                reshuffle_each_iteration=True)
            ds = ds.repeat()
            if self.mix == "batches":
                ds = ds.batch(self.batch_size, drop_remainder=True)
            sources.append(ds)
        epochs = tf.data.Dataset.range(self.num_epochs) if self.num_epochs else \
            tf.data.Dataset.range(2**62)
        choices = epochs.flat_map(
            lambda e: tf.data.Dataset.from_tensor_slices(self._choices(e))
        )
        ds = tf.data.Dataset.choose_from_datasets(sources, choices)
        if self.mix == "examples":
            ds = ds.batch(self.batch_size, drop_remainder=True)
        return ds.prefetch(tf.data.AUTOTUNE)

    def evaluation_dataset(self) -> tf.data.Dataset:
        """Every example of every task exactly once, in task order, batched.

        Labels of the other tasks are masked as in `dataset()`. Finite and not
        shuffled: use it for `model.evaluate` or `validation_data`, where each
        task's metrics then cover its whole dataset.
        """
        ds = self._datasets[0]
        for other in self._datasets[1:]:
            ds = ds.concatenate(other)
        return ds.batch(self.batch_size).prefetch(tf.data.AUTOTUNE)


def mix_datasets(
    datasets: Mapping[str, tf.data.Dataset],
    tasks: Sequence[Task],
    batch_size: int,
    strategy: str = "proportional",
    **kwargs,
) -> tuple[tf.data.Dataset, int]:
    """Shortcut: `(TaskSampler(...).dataset(), steps_per_epoch)`.

    Args:
        datasets, tasks, batch_size, strategy, **kwargs: As in `TaskSampler`.

    Returns:
        The mixed dataset and the number of batches in one epoch.

    Example:

    >>> import numpy as np, tensorflow as tf, mtl_keras as mtl
    >>> tasks = [mtl.Task("a", "binary"), mtl.Task("b", "binary")]
    >>> ds = {t.name: tf.data.Dataset.from_tensor_slices(
    ...     (np.zeros((8, 2), "float32"), np.ones(8, "int32"))) for t in tasks}
    >>> mixed, steps = mtl.data.mix_datasets(ds, tasks, 4, strategy="round_robin")
    >>> x, y = next(iter(mixed))
    >>> y["a"].numpy().tolist(), y["b"].numpy().tolist()
    ([1, -1, 1, -1], [-1, 1, -1, 1])
    """
    sampler = TaskSampler(datasets, tasks, batch_size, strategy=strategy, **kwargs)
    return sampler.dataset(), sampler.steps_per_epoch
