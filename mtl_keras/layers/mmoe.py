"""`MMoE`: multi-gate mixture-of-experts, shared experts with one gate per task."""

from __future__ import annotations

from typing import Sequence

import keras

from mtl_keras.layers.expert_gate import ExpertGate
from mtl_keras.layers.mlp import MLP


@keras.saving.register_keras_serializable(package="mtl_keras")
class MMoE(keras.layers.Layer):
    """Multi-gate mixture-of-experts.

    Ma, Zhao, Yi, Chen, Hong & Chi, "Modeling Task Relationships in Multi-task
    Learning with Multi-gate Mixture-of-Experts", KDD 2018.

    `num_experts` expert MLPs read the input `x`; each task `k` has a softmax
    gate `g^k(x) = softmax(W_gk x)` and receives

        f^k(x) = sum_{i=1}^{n} g^k(x)_i * f_i(x)

    Returns the list `[f^1(x), ..., f^K(x)]` in `task_names` order.

    Args:
        task_names: The tasks, one gate each (gates are named `gate_<task>`).
        num_experts: Number of shared experts (>= 1).
        expert_units: Widths of each expert's dense layers, e.g. `(32,)`.
        expert_activation: Activation of the expert layers.
        top_k: Optional: each gate keeps only its `top_k` largest logits.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`).

    Raises:
        ValueError: No task names, zero experts, or `top_k` larger than
            `num_experts`.

    Example:

    >>> import numpy as np
    >>> layer = MMoE(["a", "b"], num_experts=3, expert_units=(8,))
    >>> [tuple(o.shape) for o in layer(np.zeros((2, 4), "float32"))]
    [(2, 8), (2, 8)]
    """

    def __init__(
        self,
        task_names: Sequence[str],
        num_experts: int = 4,
        expert_units: Sequence[int] = (32,),
        expert_activation: str = "relu",
        top_k: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        task_names = [str(n) for n in task_names]
        if not task_names:
            raise ValueError("Expected at least one task name. Received: task_names=[]")
        # ExpertGate validates num_experts and top_k.
        self.gates = [ExpertGate(num_experts, top_k=top_k, name=f"gate_{n}",
                                 dtype=self.dtype_policy) for n in task_names]
        self.task_names = task_names
        self.num_experts = num_experts
        self.expert_units = tuple(expert_units)
        self.expert_activation = expert_activation
        self.top_k = top_k
        self.experts = [MLP(self.expert_units, activation=expert_activation,
                            name=f"expert_{i}", dtype=self.dtype_policy)
                        for i in range(num_experts)]

    def build(self, input_shape):
        for layer in self.experts + self.gates:
            layer.build(input_shape)

    def gate_weights(self, inputs) -> list:
        """Each task's gate output `(batch, num_experts)`, in task order."""
        return [gate(inputs) for gate in self.gates]

    def call(self, inputs, training=None):
        experts = [e(inputs, training=training) for e in self.experts]
        return [ExpertGate.mix(w, experts) for w in self.gate_weights(inputs)]

    def compute_output_shape(self, input_shape):
        return [tuple(input_shape)[:-1] + (self.expert_units[-1],) for _ in self.task_names]

    def get_config(self):
        config = super().get_config()
        config.update({
            "task_names": list(self.task_names),
            "num_experts": self.num_experts,
            "expert_units": list(self.expert_units),
            "expert_activation": self.expert_activation,
            "top_k": self.top_k,
        })
        return config


__all__ = [
    "MMoE",
]
