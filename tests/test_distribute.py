"""The same `fit` under tf.distribute gives the per-task losses and weights of one device.

Both tests run TensorFlow in subprocesses (logical devices must be configured
before TensorFlow initializes, and MultiWorkerMirroredStrategy needs one
process per worker); the training code is `tests/distribute_script.py`.
"""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import mtl_keras as mtl
from tests._ports import free_ports

SCRIPT = os.path.join(os.path.dirname(__file__), "distribute_script.py")
# The stateful methods (GLS, DB-MTL and static weights are pure functions of the
# global losses, the path these exercise too). Kept short for the test budget.
MIRRORED_METHODS = ["uncertainty", "dwa", "rlw", "famo"]
MULTI_WORKER_METHODS = ["uncertainty", "dwa"]


def _script():
    spec = importlib.util.spec_from_file_location("distribute_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _assert_same_run(reference, run, method, rtol=1e-5, atol=1e-6):
    for key, values in reference["history"].items():
        np.testing.assert_allclose(run["history"][key], values, rtol=rtol, atol=atol,
                                   err_msg=f"{method}: {key}")
    for expected, got in zip(reference["model"], run["model"]):
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=method)


def _run_mirrored(methods, *options, timeout):
    """Runs distribute_script.py's one-device and MirroredStrategy runs of `methods`."""
    result = subprocess.run(
        [sys.executable, SCRIPT, "mirrored", ",".join(methods), *options],
        capture_output=True, text=True, timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = [l for l in result.stdout.splitlines() if l.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus_matches_one_device():
    runs = _run_mirrored(MIRRORED_METHODS, timeout=240)
    assert sorted(runs) == sorted(MIRRORED_METHODS)
    for method, pair in runs.items():
        _assert_same_run(pair["single"], pair["mirrored"], method)
    # DWA's weights are 1 for two epochs; the multiclass task has no label in
    # one batch of four (weight 0 there), so its epoch mean weight is 0.75.
    assert runs["dwa"]["mirrored"]["history"]["m_weight"][:2] == [0.75, 0.75]


@pytest.mark.slow
def test_every_gradient_method_in_both_modes_under_mirrored_strategy_matches_one_device():
    # Every gradient-combination rule, in parameters and representation mode,
    # on two logical CPUs (batches with missing labels included): per-task
    # losses, weights and the trained model equal the one-device run.
    methods = [f"{name}@{mode}" for name in mtl.weighting.available()
               if mtl.weighting.get(name).combines_gradients
               for mode in ("parameters", "representation")]
    runs = _run_mirrored(methods, "--epochs", "1", timeout=600)
    assert sorted(runs) == sorted(methods)
    for method, pair in runs.items():
        _assert_same_run(pair["single"], pair["mirrored"], method, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_multi_worker_mirrored_strategy_two_processes_matches_one_device(tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    out = tmp_path / "chief.json"
    workers = []
    for index in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}))
        workers.append(subprocess.Popen(
            [sys.executable, SCRIPT, "mwms", ",".join(MULTI_WORKER_METHODS), str(out)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    errors = []
    try:
        for worker in workers:
            _, err = worker.communicate(timeout=240)
            errors.append((worker.returncode, err[-3000:]))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    for code, err in errors:
        assert code == 0, err
    runs = json.loads(out.read_text())
    script = _script()
    for method in MULTI_WORKER_METHODS:
        _assert_same_run(script.train(method), runs[method], method)
