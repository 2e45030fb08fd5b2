"""Parity of SavedModel and float32 TFLite with Keras for every sharing architecture."""

import keras
import numpy as np
import pytest

import mtl_keras as mtl
from mtl_keras.exporters import signatures as sig
from tests.exporters._models import make_sample, make_tasks


def _inputs():
    return {"x": keras.Input((4,), name="x"), "z": keras.Input((2,), name="z")}


# builder name -> how to call it with tiny widths; builders that do not exist
# (yet) are left out at import time.
_FACTORIES = {
    "build_hard_sharing": lambda b: b(_inputs(), mtl.backbones.mlp([8]), make_tasks()),
    "build_soft_sharing": lambda b: b(_inputs(), mtl.backbones.mlp([8]), make_tasks()),
    "build_cross_stitch": lambda b: b(_inputs(), [mtl.backbones.mlp([8], name="s0"),
                                                  mtl.backbones.mlp([8], name="s1")],
                                      make_tasks()),
    "build_mmoe": lambda b: b(_inputs(), make_tasks(), num_experts=2, expert_units=(8,)),
    "build_ple": lambda b: b(_inputs(), make_tasks(), num_levels=2, expert_units=(8,)),
    "build_grouped": lambda b: b(_inputs(), mtl.backbones.mlp([8]), make_tasks(),
                                 groups=[["a", "c"], ["b"]]),
}
BUILDERS = [name for name in _FACTORIES if getattr(mtl, name, None) is not None]


def test_every_known_builder_is_covered():
    public = sorted(n for n in dir(mtl) if n.startswith("build_"))
    assert public == sorted(BUILDERS)


@pytest.mark.parametrize("builder", BUILDERS)
def test_savedmodel_and_tflite_match_keras(builder, tmp_path):
    model = _FACTORIES[builder](getattr(mtl, builder))
    features, labels = make_sample(n=8)
    saved = mtl.exporters.export_saved_model(model, tmp_path / "serving", model_name="m",
                                             sample_inputs=features)
    lite = mtl.exporters.export_tflite(model, tmp_path / "m.tflite", sample_inputs=features,
                                       labelled_sample=(features, labels),
                                       saved_model_dir=saved.path)
    for report in [saved] + lite:
        assert report.ok
        # serving_default checks 3 tasks, each task signature checks 1.
        assert len(report.checks) == 6
        for check in report.checks:
            assert check.max_abs_diff <= 1e-6 or check.max_rel_diff <= 1e-5
    for check in lite[0].checks:
        assert check.metric_change == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("builder", BUILDERS)
def test_per_task_signature_is_smaller_than_all_tasks(builder):
    model = _FACTORIES[builder](getattr(mtl, builder))
    fns = sig.concrete_functions(model)
    full = len(fns["serving_default"].variables)
    for name in model.task_names:
        ops = [op.type for op in fns[name].graph.get_operations()]
        assert len(fns[name].variables) < full
        assert ops.count("MatMul") < [
            op.type for op in fns["serving_default"].graph.get_operations()].count("MatMul")
        head = model.heads[model.task_names.index(name)]
        kernels = {id(v) for v in fns[name].variables}
        for other in model.heads:
            assert (id(other.output_dense.kernel.value) in kernels) == (other is head)
