"""CGC: task outputs only see their own and the shared experts; PLE-level inputs."""

import numpy as np
import pytest

from mtl_keras.layers import CGC


def test_task_output_ignores_other_tasks_experts():
    level = CGC(["a", "b"], num_task_experts=1, num_shared_experts=1, expert_units=(4,),
                output_shared=True)
    x = np.random.rand(3, 5).astype("float32")
    before = [o.numpy() for o in level(x)]
    expert_b = level.task_experts[1][0]
    expert_b.set_weights([w + 1.0 for w in expert_b.get_weights()])
    after = [o.numpy() for o in level(x)]
    np.testing.assert_array_equal(after[0], before[0])   # task a: unchanged
    assert not np.allclose(after[1], before[1])           # task b: changed
    assert not np.allclose(after[2], before[2])           # shared gate sees all experts
    # The shared gate mixes 2 task experts + 1 shared expert.
    assert level.shared_gate.num_experts == 3 and level.gates[0].num_experts == 2


def test_list_input_feeds_each_task_its_own_input():
    level = CGC(["a", "b"], expert_units=(4,))
    xa, xb, xs = (np.random.rand(2, 4).astype("float32") for _ in range(3))
    out = level([xa, xb, xs])
    assert len(out) == 2
    out_b_changed = level([xa, xb + 1.0, xs])
    np.testing.assert_array_equal(out_b_changed[0], out[0])
    with pytest.raises(ValueError, match="list of 3 tensors"):
        level([xa, xb])


def test_bad_arguments_raise_and_config_round_trips():
    with pytest.raises(ValueError, match="num_task_experts to be an int >= 1"):
        CGC(["a"], num_task_experts=0)
    with pytest.raises(ValueError, match="num_shared_experts to be an int >= 1"):
        CGC(["a"], num_shared_experts=0)
    config = CGC(["a", "b"], num_task_experts=2, output_shared=True).get_config()
    clone = CGC.from_config(config)
    assert (clone.num_task_experts, clone.output_shared) == (2, True)
