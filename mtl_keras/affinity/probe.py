"""`StepProbe`: a callback that measures the training batch of every n-th step.

A Keras callback never sees the batches: `fit` pulls them from its iterator
inside the compiled train function. A probe therefore runs its measurement
inside a second train function, built by Keras from the model's own
`train_step` with the measurement in front of it, and `fit` calls that
function instead of the usual one on the steps the probe is due:

* on every other step `fit` runs the model's unchanged train function, so
  they cost nothing extra;
* on a probed step the measurement reads the variables before the step's
  update and assigns nothing (it uses `stateless_call`, see `measures`), so
  the update is the one the plain step would have made: training with a
  probe gives bit-identical weights (tested).

Several probes in one `fit` (e.g. `TaskAffinity` and `GradientConflict`)
share one dispatcher, which builds a function for each set of probes due on
the same step. Probes need `steps_per_execution=1` (a probed step is one
batch).

How the probed function is made: the dispatcher adds one step observer
(`MultiTaskModel.add_step_observer`) that runs the due probes' measurements,
makes a train function with it (`make_train_function(force=True)`), keeps
that function and removes the observer again, so the model's own train
function stays free of it; the dispatcher is `model.train_function` during
training, and the plain train function is restored at the end.
"""

from __future__ import annotations

import abc

import keras
import tensorflow as tf

from mtl_keras._validators import check_int

__all__ = ["StepProbe"]


class StepProbe(keras.callbacks.Callback, abc.ABC):
    """Base class: measures the training batch of every `every_n_steps`-th step.

    Subclasses implement `check_model` (raise before training),
    `build_state` (create their accumulators, in the model's strategy scope,
    the first time they see a model), `reset_state` (zero them, at the start
    of every later `fit` of the same model) and `measure` (graph code run on
    the replica's batch before the step's update; it must not assign the
    model's variables). Steps are counted from the start of each `fit`; the
    first measured step is the first step.

    Args:
        every_n_steps: Measure every this many training steps (>= 1).

    Raises:
        ValueError: `every_n_steps < 1` (at construction); at the start of
            training, a model the probe cannot measure or
            `steps_per_execution != 1`.
    """

    def __init__(self, every_n_steps: int = 10):
        super().__init__()
        self.every_n_steps = check_int(every_n_steps, "every_n_steps", min_value=1)
        self._step = 0
        self._due = False
        self._dispatcher = None
        self._state_model = None
        self._version = 0

    # --------------------------------------------------------- subclass API
    @abc.abstractmethod
    def check_model(self, model) -> None:
        """Raises a `ValueError` if the probe cannot measure `model`."""

    @abc.abstractmethod
    def build_state(self, model) -> None:
        """Creates the accumulators for `model` (runs in its strategy's scope)."""

    @abc.abstractmethod
    def reset_state(self) -> None:
        """Zeroes the accumulators (at the start of each `fit`)."""

    @abc.abstractmethod
    def measure(self, model, x, y, sample_weight):
        """Measures one replica's batch (graph code, before the update).

        Returns:
            The tensors the measurement produced: the rest of the step waits
            for them.
        """

    # ------------------------------------------------------------ callbacks
    def on_train_begin(self, logs=None):
        model = self.model
        self.check_model(model)
        steps = getattr(model, "steps_per_execution", 1)
        if steps != 1:
            raise ValueError(
                f"{type(self).__name__} measures single training steps. Expected a model "
                f"compiled with steps_per_execution=1. Received: steps_per_execution={steps}")
        if self._state_model is not model:
            with model.distribute_strategy.scope():
                self.build_state(model)
            self._state_model = model
            self._version += 1
        else:
            self.reset_state()
        self._step = 0
        self._due = False
        self._dispatcher = _Dispatcher.install(model, self._dispatcher)
        self._dispatcher.add(self)

    def on_train_batch_begin(self, batch, logs=None):
        self._due = self._step % self.every_n_steps == 0
        self._step += 1

    def on_train_end(self, logs=None):
        if self._dispatcher is not None:
            # Kept (uninstalled): a later `fit` of the same model reuses its
            # traced functions.
            self._dispatcher.remove(self)
        self._due = False

    def take_due(self) -> bool:
        """Whether the probe measures the coming step (and clears the flag)."""
        due, self._due = self._due, False
        return due

    @property
    def state_version(self) -> int:
        """Incremented whenever `build_state` makes new accumulators."""
        return self._version

    def get_config(self):
        return {"every_n_steps": self.every_n_steps}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class _Dispatcher:
    """`model.train_function` during a probed `fit`: picks the function for each step.

    It keeps the functions it built, keyed by the probes (and the version of
    their accumulators), so later `fit` calls of the same model with the same
    probes do not trace again.
    """

    def __init__(self, model, plain):
        self.model = model
        self.plain = plain
        self.probes = []
        self._functions = {}

    @classmethod
    def install(cls, model, previous=None):
        """Makes a dispatcher `model.train_function`: the one in place, `previous`, or new."""
        current = model.train_function
        if isinstance(current, cls) and current.model is model:
            return current  # another probe of this fit installed it
        if current is None:
            model.make_train_function()
            current = model.train_function
        if previous is not None and previous.model is model and previous.plain is current:
            dispatcher = previous
        else:
            dispatcher = cls(model, current)
        model.train_function = dispatcher
        return dispatcher

    def add(self, probe):
        if probe not in self.probes:
            self.probes.append(probe)

    def remove(self, probe):
        if probe in self.probes:
            self.probes.remove(probe)
        if not self.probes and self.model.train_function is self:
            self.model.train_function = self.plain

    def __call__(self, iterator):
        due = tuple(p for p in self.probes if p.take_due())
        if not due:
            return self.plain(iterator)
        key = tuple((id(p), p.state_version) for p in due)
        function = self._functions.get(key)
        if function is None:
            function = self._functions[key] = self._build(due)
        return function(iterator)

    def _build(self, probes):
        model = self.model

        def measure(x, y, sample_weight):
            # With several replicas: one measurement after the other, then the
            # step, or collectives without a data dependency could start in a
            # different order on each replica. On one replica they may overlap
            # (the measurement's variable reads still precede the step's
            # writes: TensorFlow keeps the program order of ops on a resource).
            ctx = tf.distribute.get_replica_context()
            ordered = ctx is not None and ctx.num_replicas_in_sync > 1
            done = []
            for probe in probes:
                with tf.control_dependencies(done):
                    out = tf.nest.flatten(probe.measure(model, x, y, sample_weight))
                done = out if ordered else []
            return done

        model.add_step_observer(measure)
        try:
            model.make_train_function(force=True)
            return model.train_function
        finally:
            model.remove_step_observer(measure)
            model.train_function = self
