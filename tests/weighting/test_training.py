"""Every loss-level method inside `model.fit`: missing labels, mixed precision,
every architecture, and `.keras` save/load with its state."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

import mtl_keras as mtl

METHODS = ["static", "uncertainty", "dwa", "rlw", "gls", "famo", "dbmtl"]


def _tasks():
    return [mtl.Task("c", "binary"), mtl.Task("m", "multiclass", num_classes=3),
            mtl.Task("r", "regression")]


def _hard(tasks):
    return mtl.build_hard_sharing(keras.Input((4,), name="x"), mtl.backbones.mlp([8]), tasks)


ARCHITECTURES = {
    "hard": _hard,
    "soft": lambda tasks: mtl.build_soft_sharing(
        keras.Input((4,), name="x"), mtl.backbones.mlp([8]), tasks),
    "cross_stitch": lambda tasks: mtl.build_cross_stitch(
        keras.Input((4,), name="x"), [keras.layers.Dense(8, activation="relu")], tasks),
    "mmoe": lambda tasks: mtl.build_mmoe(
        keras.Input((4,), name="x"), tasks, num_experts=2, expert_units=(8,)),
    "ple": lambda tasks: mtl.build_ple(
        keras.Input((4,), name="x"), tasks, num_levels=1, expert_units=(8,)),
}


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    c = (x[:, 0] > 0).astype("int32")
    m = np.digitize(x[:, 1], [-0.5, 0.5]).astype("int32")
    r = (x[:, 2] * 2.0).astype("float32")
    c[::3] = -1                    # missing binary labels
    r[1::4] = np.nan               # missing regression labels
    m[:16] = -1                    # the first batch has no multiclass label at all
    return x, {"c": c, "m": m, "r": r}


def _state(strategy):
    return {v.path: np.array(v.numpy()) for v in strategy.variables}


# Each method once, and every architecture at least once.
CASES = [("static", "hard"), ("uncertainty", "soft"), ("dwa", "cross_stitch"),
         ("rlw", "mmoe"), ("gls", "ple"), ("famo", "mmoe"), ("dbmtl", "cross_stitch")]


@pytest.mark.parametrize("name,architecture", CASES)
def test_fit_with_missing_labels(name, architecture):
    model = ARCHITECTURES[architecture](_tasks())
    model.compile(optimizer=keras.optimizers.Adam(0.01), weighting=name)
    x, y = _data()
    history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history
    for task in ("c", "m", "r"):
        assert np.all(np.isfinite(history[f"{task}_loss"]))
        assert np.all(np.isfinite(history[f"{task}_weight"]))
        assert min(history[f"{task}_weight"]) >= 0.0
    for value in _state(model.weighting).values():
        assert np.all(np.isfinite(value))
    if name == "dwa":
        # "m" had labels in one batch of two per epoch: its epoch loss is that batch's.
        assert float(model.weighting.epochs_seen.numpy()) == 3.0
        assert float(model.weighting.loss_history.numpy()[1, 1]) > 0.0
    logs = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert "c_weight" not in logs and np.isfinite(logs["loss"])


_FRESH_LOAD = """
import json, sys
import keras, numpy as np
import mtl_keras  # registers the classes
out = {}
for name, path in json.loads(sys.argv[1]).items():
    model = keras.saving.load_model(path, safe_mode=True)
    out[name] = [type(model.weighting).__name__,
                 {v.path: np.asarray(v.numpy()).tolist() for v in model.weighting.variables}]
print(json.dumps(out))
"""


@pytest.mark.slow
def test_mixed_precision_then_load_in_fresh_process(tmp_path):
    """Every method trains under mixed_float16; its state survives .keras save/load."""
    paths, expected = {}, {}
    x, y = _data()
    try:
        for name in METHODS:
            keras.backend.clear_session()  # also resets the dtype policy
            keras.mixed_precision.set_dtype_policy("mixed_float16")
            model = _hard(_tasks())
            model.compile(optimizer="adam", weighting=name)
            history = model.fit(x, y, batch_size=16, epochs=3, verbose=0).history
            assert any(layer.compute_dtype == "float16" for layer in model.trunk._flatten_layers())
            for task in ("c", "m", "r"):
                assert np.all(np.isfinite(history[f"{task}_loss"])), name
                assert np.all(np.isfinite(history[f"{task}_weight"])), name
            state = _state(model.weighting)
            assert all(np.all(np.isfinite(v)) for v in state.values()), name
            if name in ("uncertainty", "dwa", "rlw", "famo"):
                assert any(np.any(v != 0) for v in state.values()), name
            paths[name] = str(tmp_path / f"{name}.keras")
            model.save(paths[name])
            expected[name] = [type(model.weighting).__name__,
                              {k: v.tolist() for k, v in state.items()}]
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    result = subprocess.run([sys.executable, "-c", _FRESH_LOAD, json.dumps(paths)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    for name in METHODS:
        assert loaded[name][0] == expected[name][0]
        assert loaded[name][1].keys() == expected[name][1].keys()
        for key, value in expected[name][1].items():
            np.testing.assert_array_equal(loaded[name][1][key], value)
