"""A run killed mid-epoch and resumed by BackupAndRestore ends like an uninterrupted one."""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "resume_script.py")


def _run(*args):
    return subprocess.Popen([sys.executable, SCRIPT, *map(str, args)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _finish(process, timeout=150):
    try:
        _, err = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, err[-3000:]


@pytest.mark.slow
def test_killed_and_resumed_run_ends_with_the_same_state(tmp_path):
    # DWA: its per-epoch state (running sums, loss history) is the delicate one.
    method = "dwa"
    reference = _run(method, tmp_path / "ref_backup", tmp_path / "ref.npz")
    killed = _run(method, tmp_path / "backup", tmp_path / "unused.npz", 2)
    code, err = _finish(killed)
    assert code == -signal.SIGKILL, err
    assert not (tmp_path / "unused.npz").exists()
    assert os.listdir(tmp_path / "backup")          # epochs 0 and 1 were backed up
    code, err = _finish(_run(method, tmp_path / "backup", tmp_path / "resumed.npz"))
    assert code == 0, err
    code, err = _finish(reference)
    assert code == 0, err
    expected, resumed = np.load(tmp_path / "ref.npz"), np.load(tmp_path / "resumed.npz")
    assert sorted(expected.files) == sorted(resumed.files)
    assert any(k.startswith("optimizer_") for k in expected.files)
    assert any(k.endswith("loss_history") for k in expected.files)
    assert float(expected["strategy_dynamic_weight_average/epochs_seen"]) == 4.0
    for key in expected.files:
        np.testing.assert_allclose(resumed[key], expected[key], rtol=1e-6, atol=1e-7,
                                   err_msg=key)
