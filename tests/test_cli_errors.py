"""`mtl-keras` errors: one line on stderr and a non-zero exit, a traceback only with --debug."""

import os
import subprocess
import sys
import textwrap

import pytest

from mtl_keras import cli
from mtl_keras.commands import _startup, evaluate


def _raise(error):
    def fail(*args, **kwargs):
        raise error

    return fail


@pytest.mark.parametrize("error, code, line", [
    (ValueError("Expected x.\n  Received:   y"), 2,
     "mtl-keras evaluate: error: Expected x. Received: y"),
    (KeyError("measurements"), 2, "mtl-keras evaluate: error: KeyError: 'measurements'"),
    (PermissionError(13, "Permission denied", "m.keras"), 2,
     "mtl-keras evaluate: error: [Errno 13] Permission denied: 'm.keras'"),
    (RuntimeError("verification failed"), 1,
     "mtl-keras evaluate: error: RuntimeError: verification failed (run with --debug for the "
     "traceback)"),
    (ZeroDivisionError(), 1, "mtl-keras evaluate: error: ZeroDivisionError: ZeroDivisionError "
                             "(run with --debug for the traceback)"),
])
def test_errors_are_one_line(monkeypatch, capsys, error, code, line):
    monkeypatch.setattr(evaluate, "evaluate", _raise(error))
    assert cli.main(["evaluate", "m.keras"]) == code
    captured = capsys.readouterr()
    assert captured.err == line + "\n" and captured.out == ""


def test_debug_shows_the_traceback(monkeypatch):
    monkeypatch.setattr(evaluate, "evaluate", _raise(ValueError("bad")))
    with pytest.raises(ValueError, match="bad"):
        cli.main(["--debug", "evaluate", "m.keras"])
    with pytest.raises(ValueError, match="bad"):
        cli.main(["evaluate", "m.keras", "--debug"])


def test_interrupt_exits_130_with_one_line(monkeypatch, capsys):
    monkeypatch.setattr(evaluate, "evaluate", _raise(KeyboardInterrupt()))
    assert cli.main(["evaluate", "m.keras"]) == 130
    assert capsys.readouterr().err == "mtl-keras evaluate: interrupted\n"
    with pytest.raises(KeyboardInterrupt):
        cli.main(["--debug", "evaluate", "m.keras"])


def test_long_messages_are_cut():
    message = cli.one_line(ValueError("word " * 500))
    # The first 600 characters are 120 times "word ": the last space goes.
    assert len(message) == 599 + len(" ... (--debug shows the whole message)")
    assert message.endswith("word ... (--debug shows the whole message)")
    assert "\n" not in message


def test_startup_noise_filter():
    noise = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1795962158.939936    3763 port.cc:153] oneDNN custom operations are on.",
        "I0000 00:00:1795962158.940339    3763 cudart_stub.cc:31] Could not find cuda drivers",
        "W0000 00:00:1795962159.150379    3763 cpu_feature_guard.cc:227] This TensorFlow binary",
        "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild "
        "TensorFlow with the appropriate compiler flags.",
        "E0000 00:00:1795962174.569512   13993 cuda_platform.cc:52] failed call to cuInit: "
        "INTERNAL: CUDA error",
    ]
    kept = [
        "E0000 00:00:1795962174.569512   13993 op_kernel.cc:1] Invalid argument: shapes",
        "UserWarning: something the user should see",
        "I0000 is how a user's own message might start",
    ]
    assert [_startup.is_startup_noise(line) for line in noise] == [True] * len(noise)
    assert [_startup.is_startup_noise(line) for line in kept] == [False] * len(kept)


def test_a_failing_run_prints_one_line_without_tensorflow_noise(tmp_path):
    # A fresh process, as from the shell: TensorFlow is imported by the command itself.
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    script = textwrap.dedent(f"""
        import sys
        from mtl_keras.cli import main
        code = main(["evaluate", {str(tmp_path / "missing.keras")!r}])
        assert "tensorflow" in sys.modules
        sys.exit(code)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.splitlines() == [
        f"mtl-keras evaluate: error: Expected a .keras model file (written by model.save). "
        f"Received: {str(tmp_path / 'missing.keras')!r} does not exist."]
