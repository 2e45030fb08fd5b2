"""`CGC`: customized gate control, one extraction level of PLE."""

from __future__ import annotations

from typing import Sequence

import keras

from mtl_keras._validators import check_int
from mtl_keras.layers.expert_gate import ExpertGate
from mtl_keras.layers.mlp import MLP


@keras.saving.register_keras_serializable(package="mtl_keras")
class CGC(keras.layers.Layer):
    """Customized gate control: task-specific and shared experts, gated per task.

    Tang, Liu, Zhao & Gong, "Progressive Layered Extraction (PLE): A Novel
    Multi-Task Learning (MTL) Model for Personalized Recommendations",
    RecSys 2020.

    Task `k` has `num_task_experts` experts of its own; `num_shared_experts`
    experts are shared. Task `k`'s gate mixes its own and the shared experts:

        y^k = sum_i g^k(x^k)_i * S^k(x)_i,   S^k = [E_k,1 .. E_k,m_k, E_s,1 .. E_s,m_s]

    Used alone (one level, input a tensor) this is the CGC model. Stacked, it
    is PLE: with `output_shared=True` a shared gate over *all* experts also
    produces the shared input of the next level, and a level called on a list
    `[x^1, ..., x^K, x^s]` feeds task `k`'s experts and gate with `x^k`, the
    shared experts and gate with `x^s` (eq. 5-6 of the paper).

    Args:
        task_names: The tasks (experts `<task>_expert_<i>`, gates `gate_<task>`).
        num_task_experts: Experts per task (>= 1).
        num_shared_experts: Shared experts (>= 1).
        expert_units: Widths of each expert's dense layers.
        expert_activation: Activation of the expert layers.
        output_shared: Also return the shared output (for a next PLE level).
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`).

    Returns (call):
        The list `[y^1, ..., y^K]`, plus `y^s` last if `output_shared`.

    Raises:
        ValueError: No task names or fewer than one expert of either kind;
            at call time, a list input of the wrong length.

    Example:

    >>> import numpy as np
    >>> level = CGC(["a", "b"], num_task_experts=1, num_shared_experts=2,
    ...             expert_units=(8,), output_shared=True)
    >>> [tuple(o.shape) for o in level(np.zeros((2, 4), "float32"))]
    [(2, 8), (2, 8), (2, 8)]
    """

    def __init__(
        self,
        task_names: Sequence[str],
        num_task_experts: int = 1,
        num_shared_experts: int = 1,
        expert_units: Sequence[int] = (32,),
        expert_activation: str = "relu",
        output_shared: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        task_names = [str(n) for n in task_names]
        if not task_names:
            raise ValueError("Expected at least one task name. Received: task_names=[]")
        self.task_names = task_names
        self.num_task_experts = check_int(num_task_experts, "num_task_experts", min_value=1)
        self.num_shared_experts = check_int(num_shared_experts, "num_shared_experts",
                                            min_value=1)
        self.expert_units = tuple(expert_units)
        self.expert_activation = expert_activation
        self.output_shared = bool(output_shared)
        policy = self.dtype_policy

        def expert(name):
            return MLP(self.expert_units, activation=expert_activation, name=name, dtype=policy)

        self.task_experts = [[expert(f"{n}_expert_{i}") for i in range(num_task_experts)]
                             for n in task_names]
        self.shared_experts = [expert(f"shared_expert_{i}") for i in range(num_shared_experts)]
        self.gates = [ExpertGate(num_task_experts + num_shared_experts, name=f"gate_{n}",
                                 dtype=policy) for n in task_names]
        self.shared_gate = (
            ExpertGate(num_task_experts * len(task_names) + num_shared_experts,
                       name="gate_shared", dtype=policy)
            if self.output_shared else None
        )

    def _split(self, inputs):
        """`(per-task inputs, shared input)` from a tensor or a list of K+1."""
        if isinstance(inputs, (list, tuple)):
            if len(inputs) != len(self.task_names) + 1:
                raise ValueError(
                    f"Expected a tensor or a list of {len(self.task_names) + 1} tensors "
                    "(one per task, then the shared one). Received: "
                    f"{len(inputs)} tensors"
                )
            return list(inputs[:-1]), inputs[-1]
        return [inputs] * len(self.task_names), inputs

    def build(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and input_shape and isinstance(
            input_shape[0], (list, tuple)
        ):
            task_shapes, shared_shape = self._split(list(input_shape))
        else:
            task_shapes, shared_shape = [input_shape] * len(self.task_names), input_shape
        for shape, experts, gate in zip(task_shapes, self.task_experts, self.gates):
            for layer in experts:
                layer.build(shape)
            gate.build(shape)
        for layer in self.shared_experts:
            layer.build(shared_shape)
        if self.shared_gate is not None:
            self.shared_gate.build(shared_shape)

    def call(self, inputs, training=None):
        task_inputs, shared_input = self._split(inputs)
        shared = [e(shared_input, training=training) for e in self.shared_experts]
        outputs, every_task_expert = [], []
        for x, experts, gate in zip(task_inputs, self.task_experts, self.gates):
            own = [e(x, training=training) for e in experts]
            every_task_expert.extend(own)
            outputs.append(ExpertGate.mix(gate(x), own + shared))
        if self.shared_gate is not None:
            outputs.append(ExpertGate.mix(self.shared_gate(shared_input),
                                          every_task_expert + shared))
        return outputs

    def compute_output_shape(self, input_shape):
        first = input_shape[0] if isinstance(input_shape, (list, tuple)) and input_shape \
            and isinstance(input_shape[0], (list, tuple)) else input_shape
        n = len(self.task_names) + (1 if self.output_shared else 0)
        return [tuple(first)[:-1] + (self.expert_units[-1],) for _ in range(n)]

    def get_config(self):
        config = super().get_config()
        config.update({
            "task_names": list(self.task_names),
            "num_task_experts": self.num_task_experts,
            "num_shared_experts": self.num_shared_experts,
            "expert_units": list(self.expert_units),
            "expert_activation": self.expert_activation,
            "output_shared": self.output_shared,
        })
        return config


__all__ = [
    "CGC",
]
