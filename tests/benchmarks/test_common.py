"""benchmarks/_common.py: section writer, step timer, run logs and the Wine rows."""

import importlib.util
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_keras as mtl

PATH = os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks", "_common.py")


@pytest.fixture
def common():
    spec = importlib.util.spec_from_file_location("benchmarks_common", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DOC = ("# Benchmarks\n\nIntro.\n\n## Serving\n\nold serving\n\n### Sub\n\nold sub\n\n"
       "## Serving speed\n\nkept\n")


def test_a_section_is_replaced_with_its_subsections(common, tmp_path):
    path = tmp_path / "B.md"
    path.write_text(DOC)
    common.write_section(str(path), "## Serving", "## Serving\n\nnew\n\n\n")
    # `## Serving speed` starts with the heading's text but is another section.
    assert path.read_text() == ("# Benchmarks\n\nIntro.\n\n## Serving\n\nnew\n\n"
                                "## Serving speed\n\nkept\n")


def test_the_last_section_and_a_new_one(common, tmp_path):
    path = tmp_path / "B.md"
    path.write_text(DOC)
    common.write_section(str(path), "## Serving speed", "## Serving speed\n\nfaster")
    assert path.read_text().endswith("old sub\n\n## Serving speed\n\nfaster\n")
    common.write_section(str(path), "## Overhead", "## Overhead\n\n1.02\n")
    assert path.read_text().endswith("## Serving speed\n\nfaster\n\n## Overhead\n\n1.02\n")
    missing = tmp_path / "new.md"
    common.write_section(str(missing), "## Overhead", "## Overhead\n\n1.02\n")
    assert missing.read_text() == "# Benchmarks\n\n## Overhead\n\n1.02\n"
    assert sorted(os.listdir(tmp_path)) == ["B.md", "new.md"]   # no temporary file left


def test_bad_headings(common, tmp_path):
    with pytest.raises(ValueError, match="level-2 heading"):
        common.write_section(str(tmp_path / "B.md"), "# Serving", "# Serving\n")
    with pytest.raises(ValueError, match="start with its heading '## Serving'"):
        common.write_section(str(tmp_path / "B.md"), "## Serving", "text\n")


def test_time_steps_runs_the_train_function_and_returns_seconds_per_step(common):
    model = mtl.build_hard_sharing(keras.Input((2,)), mtl.backbones.mlp([4]),
                                   [mtl.Task("r", "regression")])
    model.compile(optimizer="sgd")
    x, y = np.ones((8, 2), "float32"), {"r": np.ones(8, "float32")}
    data = iter(tf.data.Dataset.from_tensor_slices((x, y)).batch(4).repeat())
    model.make_train_function()
    before = int(model.optimizer.iterations.numpy())
    seconds = common.time_steps(model, data, 3)
    assert int(model.optimizer.iterations.numpy()) == before + 3
    assert 0 < seconds < 60
    assert "CPU cores, TensorFlow" in common.environment()



def test_read_log_skips_blank_lines_and_a_line_cut_off_by_a_kill(common, tmp_path):
    log = tmp_path / "run.jsonl"
    assert common.read_log(str(log)) == []
    log.write_text('{"seed": 0, "key": "a"}\n\n{"seed": 1, "key": "b"}\n{"seed": 2, "ke')
    assert common.read_log(str(log)) == [{"seed": 0, "key": "a"}, {"seed": 1, "key": "b"}]


def test_wine_rows_are_the_packaged_table(common):
    rows = common.wine_rows()
    assert len(rows) == 178 and {len(r) for r in rows} == {14}
    assert sorted({r[13] for r in rows}) == ["0", "1", "2"]
