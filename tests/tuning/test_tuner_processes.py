"""A killed search resumes without re-running finished trials; a chief + 2 workers search."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "search_script.py")


def _env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    for key in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        env.pop(key, None)
    env.update(extra)
    return env


def _trials(project):
    """{trial_id: status} from the oracle's trial files."""
    out = {}
    if not os.path.isdir(project):
        return out
    for name in os.listdir(project):
        path = os.path.join(project, name, "trial.json")
        if name.startswith("trial_") and os.path.exists(path):
            try:
                with open(path) as f:
                    trial = json.load(f)
            except (json.JSONDecodeError, OSError):
                continue  # being written
            out[trial["trial_id"]] = trial["status"]
    return out


def _lines(path):
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return len(f.read().split())


def _stop(proc):
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_killed_search_resumes_without_rerunning_finished_trials(tmp_path):
    project = str(tmp_path / "search")
    run_log = str(tmp_path / "runs.log")
    proc = subprocess.Popen([sys.executable, SCRIPT, str(tmp_path), "4", run_log, "0.25"],
                            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 100
        # Kill while the third trial trains: two finished, one running.
        while time.monotonic() < deadline:
            done = [t for t, s in _trials(project).items() if s == "COMPLETED"]
            if len(done) == 2 and _lines(run_log) == 3:
                break
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            time.sleep(0.05)
        else:
            pytest.fail("the search did not reach its third trial in time")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        _stop(proc)
    before = _trials(project)
    assert sorted(s for s in before.values()) == ["COMPLETED", "COMPLETED", "RUNNING"]
    finished = {t: open(os.path.join(project, f"trial_{t}", "trial.json")).read()
                for t, s in before.items() if s == "COMPLETED"}

    # Resume in this process with overwrite=False.
    sys.path.insert(0, os.path.dirname(SCRIPT))
    try:
        import search_script
    finally:
        sys.path.pop(0)
    runs_before = _lines(run_log)
    search_script.main(str(tmp_path), 4, run_log)
    # Only the interrupted trial and the fourth one ran again.
    assert _lines(run_log) - runs_before == 2
    after = _trials(project)
    assert sorted(after) == ["0", "1", "2", "3"]
    assert set(after.values()) == {"COMPLETED"}
    for t, text in finished.items():
        assert open(os.path.join(project, f"trial_{t}", "trial.json")).read() == text
    tuner = search_script.make_tuner(str(tmp_path), 4)
    assert [r.status for r in tuner.results()] == ["COMPLETED"] * 4


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.timeout(170)
def test_chief_and_two_workers_finish_exactly_the_requested_trials(tmp_path):
    port = str(_free_port())
    common = dict(KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=port)
    procs = {}
    logs = {}
    try:
        for role in ("chief", "tuner0", "tuner1"):
            directory = str(tmp_path / role)
            logs[role] = str(tmp_path / f"{role}.log")
            procs[role] = subprocess.Popen(
                [sys.executable, SCRIPT, directory, "4", logs[role]],
                env=_env(KERASTUNER_TUNER_ID=role, **common),
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 150
        for role, proc in procs.items():
            try:
                proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"{role} did not exit by itself in time")
            assert proc.returncode == 0, (role, proc.stderr.read().decode()[-2000:])
    finally:
        for proc in procs.values():
            _stop(proc)
    trials = _trials(str(tmp_path / "chief" / "search"))
    assert sorted(trials) == ["0", "1", "2", "3"]
    assert set(trials.values()) == {"COMPLETED"}
    # The chief only serves the oracle; the two workers ran the four trials between them.
    assert _lines(logs["chief"]) == 0
    assert _lines(logs["tuner0"]) + _lines(logs["tuner1"]) == 4
    assert _lines(logs["tuner0"]) >= 1 and _lines(logs["tuner1"]) >= 1
