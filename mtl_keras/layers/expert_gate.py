"""`ExpertGate`: the softmax gate of mixture-of-experts layers (MMoE, CGC/PLE)."""

from __future__ import annotations

import keras
from keras import ops

from mtl_keras._validators import check_int


@keras.saving.register_keras_serializable(package="mtl_keras")
class ExpertGate(keras.layers.Layer):
    """Softmax gate over `num_experts` experts, optionally keeping the top `k`.

    `g(x) = softmax(W x + b)`, shape `(batch, num_experts)`, each row summing
    to 1 (Ma et al., KDD 2018, eq. 6). With `top_k=k` the logits outside the
    `k` largest are masked before the softmax (Shazeer et al., ICLR 2017), so
    each sample mixes only `k` experts; ties at the k-th value keep all tied
    experts.

    `mix(weights, experts)` returns `sum_e weights[:, e] * experts[e]`.

    Args:
        num_experts: Number of experts (>= 1).
        top_k: Optional number of experts kept per sample, 1..num_experts.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`).

    Raises:
        ValueError: `num_experts < 1`, or `top_k` outside 1..num_experts.

    Example:

    >>> import numpy as np
    >>> gate = ExpertGate(3)
    >>> w = gate(np.ones((2, 4), "float32"))
    >>> tuple(w.shape), [round(float(s), 5) for s in w.numpy().sum(axis=1)]
    ((2, 3), [1.0, 1.0])
    """

    def __init__(self, num_experts: int, top_k: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.num_experts = check_int(num_experts, "num_experts", min_value=1)
        # top_k selects that many of the experts.
        self.top_k = check_int(top_k, "top_k", min_value=1, max_value=num_experts,
                               allow_none=True)
        self.dense = keras.layers.Dense(num_experts, name="logits", dtype=self.dtype_policy)

    def build(self, input_shape):
        self.dense.build(input_shape)

    def call(self, inputs):
        logits = ops.cast(self.dense(inputs), "float32")
        if self.top_k is not None and self.top_k < self.num_experts:
            kth = ops.top_k(logits, self.top_k, sorted=True)[0][:, -1:]
            logits = ops.where(logits >= kth, logits, ops.full_like(logits, -1e9))
        return ops.softmax(logits, axis=-1)

    @staticmethod
    def mix(weights, experts):
        """`sum_e weights[:, e] * experts[e]` for a list of `(batch, d)` experts."""
        out = None
        for e, expert in enumerate(experts):
            term = ops.cast(weights[:, e:e + 1], expert.dtype) * expert
            out = term if out is None else out + term
        return out

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.num_experts,)

    def get_config(self):
        config = super().get_config()
        config.update({"num_experts": self.num_experts, "top_k": self.top_k})
        return config


__all__ = [
    "ExpertGate",
]
