"""Start-up of `mtl-keras` and of `import mtl_keras`: TensorFlow is loaded only when needed.

`--help` and argument errors must not import TensorFlow; `import mtl_keras`
followed by `keras.saving.load_model` must still find every registered class
(the package loads itself as soon as Keras is imported).
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import mtl_keras as mtl
from mtl_keras.regularizers import TraceNormCoupling
from tests.builders._contract import make_batch, make_inputs, make_tasks

_ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def _python(script, *args, timeout=300):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args],
                          capture_output=True, text=True, timeout=timeout, env=_ENV,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_help_and_argument_errors_do_not_import_tensorflow():
    result = _python("""
        import contextlib, io, json, sys
        from mtl_keras import cli
        report = {}
        for argv in (["--help"], ["train", "--help"], ["export", "--help"],
                     ["train", "--units", "64,abc"], ["export", "m.keras", "--out", "o",
                                                      "--calibration-steps", "0"],
                     ["frobnicate"]):
            err = io.StringIO()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                try:
                    cli.main(argv)
                    code = 0
                except SystemExit as e:
                    code = e.code
            report[" ".join(argv)] = [code, err.getvalue().strip().splitlines()[-1:]]
        report["modules"] = sorted(m for m in ("tensorflow", "keras", "keras_tuner")
                                   if m in sys.modules)
        print(json.dumps(report))
    """)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report.pop("modules") == []
    assert report["--help"][0] == 0 and report["train --help"][0] == 0
    assert report["export --help"][0] == 0
    code, (line,) = report["train --units 64,abc"]
    assert code == 2 and "argument --units" in line and "'64,abc'" in line
    code, (line,) = report["export m.keras --out o --calibration-steps 0"]
    assert code == 2 and "argument --calibration-steps" in line and "'0'" in line
    code, (line,) = report["frobnicate"]
    assert code == 2 and "invalid choice: 'frobnicate'" in line


def test_verb_modules_import_without_tensorflow():
    result = _python("""
        import importlib, sys
        from mtl_keras import cli
        for verb in cli.VERBS:
            importlib.import_module("mtl_keras.commands." + verb)
        cli.build_parser()
        print(sorted(m for m in ("tensorflow", "keras") if m in sys.modules))
    """)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.slow
def test_models_load_when_mtl_keras_is_imported_before_keras(tmp_path):
    # The soft-sharing model needs classes from modules `mtl_keras.model` does not import
    # (the coupling regularizer, the parallel towers layer, the weighting strategy).
    model = mtl.build_soft_sharing(make_inputs(), mtl.backbones.mlp([4]), make_tasks(),
                                   coupling=TraceNormCoupling(0.3))
    model.compile(optimizer="adam", weighting="uncertainty")
    path = str(tmp_path / "soft.keras")
    model.save(path)
    x, _ = make_batch(n=3)
    np.savez(tmp_path / "x.npz", **x)
    np.savez(tmp_path / "expected.npz", **model.predict(x, verbose=0))
    for first_import in ("import mtl_keras", "from mtl_keras.tasks import Task"):
        result = _python(f"""
            import sys
            {first_import}
            assert "tensorflow" not in sys.modules or "{first_import}".startswith("from")
            import keras, numpy as np
            model = keras.saving.load_model({path!r}, safe_mode=True)
            assert type(model.weighting).__name__ == "UncertaintyWeighting", model.weighting
            x = dict(np.load({str(tmp_path / 'x.npz')!r}))
            expected = np.load({str(tmp_path / 'expected.npz')!r})
            for task, value in model.predict(x, verbose=0).items():
                np.testing.assert_allclose(value, expected[task], rtol=1e-6, atol=1e-7)
            print("ok")
        """)
        assert result.returncode == 0, (first_import, result.stderr[-3000:])
        assert result.stdout.strip().endswith("ok")
