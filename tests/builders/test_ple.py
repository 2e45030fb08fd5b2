"""PLE / CGC builder: contract, level structure, errors."""

import pytest

import mtl_keras as mtl
from mtl_keras.layers import CGC
from tests.builders._contract import check_architecture, make_inputs, make_tasks


def test_contract_two_levels(tmp_path):
    model = mtl.build_ple(make_inputs(), make_tasks(), num_levels=2, num_task_experts=1,
                          num_shared_experts=2, expert_units=(8,))
    levels = [layer for layer in model.trunk.layers if isinstance(layer, CGC)]
    assert [(lv.name, lv.output_shared) for lv in levels] == [
        ("ple_level_0", True), ("ple_level_1", False)]
    assert len(levels[0].shared_experts) == 2 and len(levels[0].task_experts[2]) == 1
    check_architecture(model, tmp_path)


def test_one_level_is_cgc_and_bad_input_raises():
    model = mtl.build_ple(make_inputs(), make_tasks(), num_levels=1, expert_units=(8,))
    levels = [layer for layer in model.trunk.layers if isinstance(layer, CGC)]
    assert len(levels) == 1 and not levels[0].output_shared
    with pytest.raises(ValueError, match="num_levels to be an int >= 1"):
        mtl.build_ple(make_inputs(), make_tasks(), num_levels=0)
    with pytest.raises(ValueError, match="num_shared_experts to be an int >= 1"):
        mtl.build_ple(make_inputs(), make_tasks(), num_shared_experts=0)
