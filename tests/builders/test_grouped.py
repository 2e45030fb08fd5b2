import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_keras as mtl
from mtl_keras.affinity import grouping_score, trunk_variable_tasks
from tests.builders._contract import check_architecture, make_batch, make_inputs, make_tasks


def build(groups=(("a", "c"), ("b",)), **kwargs):
    return mtl.build_grouped(make_inputs(), mtl.backbones.mlp([8]), make_tasks(),
                             groups=[list(g) for g in groups], **kwargs)


def test_contract(tmp_path):
    loaded = check_architecture(build(), tmp_path)
    assert [l.name for l in loaded.trunk.layers if l.name.startswith("group_")] == [
        "group_0", "group_1"]


def test_tasks_of_a_group_share_and_groups_do_not():
    model = build()
    reached = {v.path: tasks for v, tasks in trunk_variable_tasks(model)}
    assert {p.split("/")[0] for p in reached} == {"group_0", "group_1"}
    for path, tasks in reached.items():
        assert tasks == (("a", "c") if path.startswith("group_0") else ("b",))
    x, _ = make_batch()
    out = model.trunk(x)
    np.testing.assert_array_equal(out["a"], out["c"])
    assert not np.array_equal(out["a"], out["b"])
    # A task's own model computes its group's backbone only.
    kernels = {v.path for v in model.task_model("b").trainable_variables}
    assert any(p.startswith("group_1") for p in kernels)
    assert not any(p.startswith("group_0") for p in kernels)


def test_one_group_of_everything_and_one_group_per_task():
    together = build(groups=[("a", "b", "c")])
    assert len({id(v) for v in together.trunk.trainable_variables}) == 2   # one dense layer
    apart = build(groups=[("a",), ("b",), ("c",)])
    assert [len(t) for _, t in trunk_variable_tasks(apart)] == [1] * 6
    with pytest.raises(ValueError, match="every trainable variable feeds a single task"):
        mtl.affinity.check_shared_trunk(apart)


def test_accepts_a_grouping():
    z = np.array([[0.0, -0.5, 0.4], [-0.5, 0.0, -0.3], [0.2, -0.1, 0.0]])
    grouping = mtl.affinity.best_grouping(z, ["a", "b", "c"], 2)
    assert grouping.groups == (("a", "c"), ("b",))
    model = mtl.build_grouped(make_inputs(), mtl.backbones.mlp([8]), make_tasks(), grouping)
    assert {t for _, t in trunk_variable_tasks(model)} == {("a", "c"), ("b",)}
    assert grouping_score(z, ["a", "b", "c"], grouping.groups).score == grouping.score


def test_savedmodel_export_round_trip(tmp_path):
    model = build()
    x, y = make_batch()
    model.compile(optimizer="adam")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    report = mtl.exporters.export_saved_model(model, tmp_path / "serving", model_name="grouped",
                                              sample_inputs=x)
    assert report.ok
    loaded = tf.saved_model.load(report.path)
    expected = model.predict(x, verbose=0)
    served = loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in x.items()})
    for name in ("a", "b", "c"):
        np.testing.assert_allclose(served[name], expected[name], rtol=1e-5, atol=1e-6)
    only_b = loaded.signatures["b"](**{k: tf.constant(v) for k, v in x.items()})
    np.testing.assert_allclose(only_b["b"], expected["b"], rtol=1e-5, atol=1e-6)


def test_bad_groups():
    for groups, message in [
        ([["a", "b"]], r"in no group: \['c'\]"),
        ([["a", "b"], ["b", "c"]], r"in several groups: \['b'\]"),
        ([["a", "b"], ["c", "d"]], r"unknown task names \['d'\]"),
        ([["a", "b", "c"], []], "non-empty lists of task names"),
        ([], "non-empty lists of task names"),
    ]:
        with pytest.raises(ValueError, match=message):
            mtl.build_grouped(make_inputs(), mtl.backbones.mlp([8]), make_tasks(), groups)


def test_bad_backbone():
    with pytest.raises(TypeError, match="Expected backbone to be a Keras layer"):
        mtl.build_grouped(make_inputs(), "mlp", make_tasks(), [["a", "b", "c"]])
    flat = keras.layers.Reshape((2, 1))
    with pytest.raises(ValueError, match=r"one \(batch, features\) tensor"):
        mtl.build_grouped(keras.Input((2,)), flat, make_tasks(), [["a", "b", "c"]])
