"""Every sharing architecture loads with safe_mode=True in a fresh process."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import mtl_keras as mtl
from mtl_keras.regularizers import TraceNormCoupling
from tests.builders._contract import make_batch, make_inputs, make_tasks


@pytest.mark.slow
def test_saved_models_load_in_a_fresh_process(tmp_path):
    models = {
        "soft": mtl.build_soft_sharing(make_inputs(), mtl.backbones.mlp([8]), make_tasks(),
                                       coupling=TraceNormCoupling(0.3)),
        "cross_stitch": mtl.build_cross_stitch(make_inputs(), mtl.backbones.mlp([8]),
                                               make_tasks()),
        "mmoe": mtl.build_mmoe(make_inputs(), make_tasks(), num_experts=2, expert_units=(8,),
                               top_k=1),
        "ple": mtl.build_ple(make_inputs(), make_tasks(), num_levels=2, expert_units=(8,)),
    }
    x, _ = make_batch()
    np.savez(tmp_path / "x.npz", **x)
    expected = {}
    for name, model in models.items():
        model.compile(optimizer="adam", weighting="uncertainty")
        model.save(tmp_path / f"{name}.keras")
        for task, value in model.predict(x, verbose=0).items():
            expected[f"{name}/{task}"] = value
    expected["soft/penalty"] = np.asarray(models["soft"].losses[0])
    np.savez(tmp_path / "expected.npz", **expected)
    script = textwrap.dedent(f"""
        import os
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        import keras, numpy as np
        import mtl_keras  # registers the mtl_keras classes, as a user does
        d = {str(tmp_path)!r}
        x = dict(np.load(d + "/x.npz"))
        expected = np.load(d + "/expected.npz")
        for name in ("soft", "cross_stitch", "mmoe", "ple"):
            model = keras.saving.load_model(f"{{d}}/{{name}}.keras", safe_mode=True)
            assert type(model).__name__ == "MultiTaskModel"
            assert type(model.weighting).__name__ == "UncertaintyWeighting"
            for task, value in model.predict(x, verbose=0).items():
                np.testing.assert_allclose(value, expected[f"{{name}}/{{task}}"], atol=1e-6)
            if name == "soft":
                np.testing.assert_allclose(float(model.losses[0]), expected["soft/penalty"],
                                           rtol=1e-6)
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[:3000]
    assert result.stdout.strip().endswith("ok")
