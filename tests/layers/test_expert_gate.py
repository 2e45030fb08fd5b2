"""ExpertGate: softmax rows sum to 1, hand-computed top-k, mixing, errors."""

import math

import numpy as np
import pytest

from mtl_keras.layers import ExpertGate


def _gate(top_k=None):
    gate = ExpertGate(3, top_k=top_k)
    gate.build((None, 2))
    gate.dense.set_weights([np.zeros((2, 3), "float32"), np.array([1.0, 2.0, 3.0], "float32")])
    return gate


def test_softmax_and_top_k_are_hand_computed():
    x = np.zeros((2, 2), "float32")
    e = [math.exp(v) for v in (1.0, 2.0, 3.0)]
    np.testing.assert_allclose(_gate()(x)[0], [v / sum(e) for v in e], rtol=1e-6)
    # top-2 keeps logits 2 and 3: softmax([2, 3]) = [0.26894, 0.73106].
    np.testing.assert_allclose(_gate(top_k=2)(x)[0], [0.0, 0.2689414, 0.7310586], atol=1e-6)
    w = ExpertGate(4)(np.random.rand(5, 3).astype("float32")).numpy()
    np.testing.assert_allclose(w.sum(axis=1), np.ones(5), rtol=1e-6)


def test_mix_is_weighted_sum():
    weights = np.array([[0.25, 0.75]], "float32")
    experts = [np.array([[4.0, 0.0]], "float32"), np.array([[0.0, 4.0]], "float32")]
    np.testing.assert_allclose(ExpertGate.mix(weights, experts), [[1.0, 3.0]])


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="Expected num_experts to be an int >= 1"):
        ExpertGate(0)
    with pytest.raises(ValueError,
                       match=r"Expected top_k to be None or an int in \[1, 3\]. Received: top_k=4"):
        ExpertGate(3, top_k=4)
    assert ExpertGate.from_config(ExpertGate(3, top_k=2).get_config()).top_k == 2
