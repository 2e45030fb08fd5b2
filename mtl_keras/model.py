"""`MultiTaskModel`: a trunk, one named head per task, and a weighted, masked loss."""

from __future__ import annotations

from typing import Sequence

import keras

from mtl_keras.layers.task_head import TaskHead
from mtl_keras.tasks import Task, validate_tasks
from mtl_keras.trainer import MultiTaskTrainer


@keras.saving.register_keras_serializable(package="mtl_keras")
class MultiTaskModel(MultiTaskTrainer, keras.Model):
    """A multi-task model: `inputs -> trunk -> {task: head(representation)}`.

    The trunk is a functional `keras.Model` that maps the inputs to either one
    shared representation (hard parameter sharing: every head reads it) or a
    dict `{task_name: representation}` (soft sharing, cross-stitch, gated
    experts: each head reads its own). Each task gets a head layer named after
    it; the model's outputs are a dict keyed by task name.

    Use a builder (`mtl_keras.build_hard_sharing`, ...) rather than this
    constructor directly.

    Training. `compile(optimizer, weighting=...)` takes the losses and metrics
    from the tasks. Labels are a dict keyed by each task's `label_key`; a
    missing label (NaN, a negative class id, or a zero per-task sample weight)
    leaves that sample out of that task's loss and metrics only. Logs hold
    `loss` (the optimized total), `<task>_loss` (mean over labelled samples),
    `<task>_<metric>` and `<task>_weight` (the weight in use, training only).

    Args:
        trunk: Functional `keras.Model` from the inputs to the representation(s).
        tasks: List of `mtl_keras.Task`.
        heads: Optional list of head layers, one per task in order, each named
            after its task. Default: a `TaskHead` built from each task's spec.
        **kwargs: Base `keras.Model` arguments (`name`, `trainable`, `dtype`).

    Example:

    >>> import keras, numpy as np, mtl_keras as mtl
    >>> tasks = [mtl.Task("a", "binary"), mtl.Task("b", "regression")]
    >>> model = mtl.build_hard_sharing(keras.Input((4,)), mtl.backbones.mlp([8]), tasks)
    >>> model.compile(optimizer="adam", weighting={"a": 2.0})
    >>> x = np.random.rand(16, 4).astype("float32")
    >>> y = {"a": np.random.randint(0, 2, 16), "b": np.random.rand(16)}
    >>> history = model.fit(x, y, epochs=1, verbose=0)
    >>> sorted(k for k in history.history if k.startswith("a_"))
    ['a_accuracy', 'a_auc', 'a_loss', 'a_weight']
    >>> model.task_model("b").output.shape
    (None, 1)
    """

    def __init__(
        self,
        trunk: keras.Model,
        tasks: Sequence[Task],
        heads: Sequence[keras.layers.Layer] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        tasks = validate_tasks(list(tasks))
        names = [t.name for t in tasks]
        rep = _trunk_output(trunk, names)
        if heads is None:
            heads = [TaskHead.for_task(t) for t in tasks]
        heads = list(heads)
        if [h.name for h in heads] != names:
            raise ValueError(
                "Expected one head per task, named after its task, in task order "
                f"{names}. Received head names: {[h.name for h in heads]}"
            )
        for head, task in zip(heads, tasks):
            if not head.built:
                head.build(tuple((rep[task.name] if isinstance(rep, dict) else rep).shape))
        self.trunk = trunk
        self.heads = heads
        self._tasks = tuple(tasks)
        self._shared_representation = not isinstance(rep, dict)
        self.weighting = None
        self._trackers = None
        self._gradient_step = None
        self._loss_step = None
        self.built = True

    # ----------------------------------------------------------------- basics
    @property
    def tasks(self) -> tuple[Task, ...]:
        """The model's tasks, in output order."""
        return self._tasks

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self._tasks]

    @property
    def has_shared_representation(self) -> bool:
        """True when every head reads the same trunk output (hard sharing)."""
        return self._shared_representation

    def get_task(self, name: str) -> Task:
        for t in self._tasks:
            if t.name == name:
                return t
        raise ValueError(f"Unknown task {name!r}. Expected one of {self.task_names}.")

    def call(self, inputs, training=None):
        reps = self.trunk(inputs, training=training)
        outputs = {}
        for task, head in zip(self._tasks, self.heads):
            rep = reps if self._shared_representation else reps[task.name]
            outputs[task.name] = head(rep, training=training)
        return outputs

    def representation(self, inputs, training=None):
        """The trunk's output(s) for `inputs`."""
        return self.trunk(inputs, training=training)

    def task_model(self, name: str) -> keras.Model:
        """A functional model for one task that shares this model's weights.

        It computes only what `name` needs: the trunk's sub-graph that feeds
        this task's representation (the whole backbone for hard sharing, the
        task's own tower and what it reads for soft sharing) and its head.

        Raises:
            ValueError: For a name that is not a task of this model.
        """
        self.get_task(name)
        head = self.heads[self.task_names.index(name)]
        rep = self.trunk.output
        rep = rep if self._shared_representation else rep[name]
        return keras.Model(self.trunk.input, head(rep), name=f"{name}_model")

    # ---------------------------------------------------------- serialization
    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            # The policy decides whether compile wraps the optimizer in a
            # LossScaleOptimizer (mixed_float16): a model reloaded under another
            # global policy must get the same optimizer, or its state is skipped.
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "trunk": keras.saving.serialize_keras_object(self.trunk),
            "tasks": [keras.saving.serialize_keras_object(t) for t in self._tasks],
            "heads": [keras.saving.serialize_keras_object(h) for h in self.heads],
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        trunk = keras.saving.deserialize_keras_object(config.pop("trunk"),
                                                      custom_objects=custom_objects)
        tasks = [keras.saving.deserialize_keras_object(t, custom_objects=custom_objects)
                 for t in config.pop("tasks")]
        heads = [keras.saving.deserialize_keras_object(h, custom_objects=custom_objects)
                 for h in config.pop("heads")]
        return cls(trunk=trunk, tasks=tasks, heads=heads, **config)

    def track_total_loss(self, total, batch_size) -> None:
        """Adds a step's optimized loss to the `loss` log, as Keras' own `train_step` does.

        `_loss_tracker` is this model's own attribute, created by `keras.Model.compile`
        (no public accessor); the gradient step of `MultiTaskTrainer` calls this method.
        """
        self._loss_tracker.update_state(total, sample_weight=batch_size)

    def summary(self, *args, **kwargs):
        """Prints the trunk's layer summary, then the heads."""
        self.trunk.summary(*args, **kwargs)
        super().summary(*args, **kwargs)


def _trunk_output(trunk, names):
    """The trunk's output structure: one tensor, or a dict keyed by `names`."""
    rep = None
    if isinstance(trunk, keras.Model):
        try:
            rep = trunk.output  # the output structure of a functional model
        except (AttributeError, ValueError):
            pass
    if rep is None:
        raise TypeError(
            "Expected trunk to be a functional `keras.Model` "
            f"(inputs -> representation). Received: {trunk!r}"
        )
    if isinstance(rep, dict) and sorted(rep) != sorted(names):
        raise ValueError(
            "Expected the trunk's output dict to be keyed by the task names "
            f"{names}. Received keys: {sorted(rep)}"
        )
    if isinstance(rep, (list, tuple)):
        raise ValueError(
            "Expected the trunk to output one tensor (shared representation) or a "
            f"dict keyed by task name. Received a {type(rep).__name__} of "
            f"{len(rep)} tensors."
        )
    return rep


__all__ = [
    "MultiTaskModel",
]
