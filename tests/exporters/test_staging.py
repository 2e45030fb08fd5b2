"""Leftovers of killed exports are cleaned; a version never lacks its models.config entry."""

import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

import mtl_keras as mtl
from mtl_keras.exporters import staging
from tests.exporters._models import make_model

OLD = time.time() - 2 * staging.STALE_AFTER_SECONDS


def _age(path):
    os.utime(path, (OLD, OLD))


def _config_names(base):
    if not (base / "models.config").exists():
        return []
    config = text_format.Parse((base / "models.config").read_text(),
                               model_server_config_pb2.ModelServerConfig())
    return [c.name for c in config.model_config_list.config]


# The exporter process that gets killed: it only imports the staging module
# (by path: no TensorFlow), stages a directory and a file, and waits.
_EXPORTER = textwrap.dedent("""
    import importlib.util, sys, time
    spec = importlib.util.spec_from_file_location("staging", sys.argv[1])
    staging = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(staging)
    d = staging.TempDir(sys.argv[2])
    f = staging.StagedFile(sys.argv[2] + "/m.tflite", b"x" * 10)
    f.write()
    print(d.path, f._tmp, flush=True)
    time.sleep(120)
""")


def test_leftovers_of_a_killed_export_are_removed_by_the_next(tmp_path):
    spec = importlib.util.find_spec("mtl_keras.exporters.staging")
    proc = subprocess.Popen([sys.executable, "-c", _EXPORTER, spec.origin, str(tmp_path)],
                            stdout=subprocess.PIPE, text=True)
    try:
        tmp_dir, tmp_file = proc.stdout.readline().split()
        _age(tmp_dir)
        _age(tmp_file)
        # Alive: its entries are locked, so they stay even when old.
        assert staging.remove_stale(str(tmp_path)) == []
        assert os.path.isdir(tmp_dir) and os.path.isfile(tmp_file)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert sorted(staging.remove_stale(str(tmp_path))) == sorted([tmp_dir, tmp_file])
    assert os.listdir(tmp_path) == []


def test_only_our_old_unlocked_entries_are_removed(tmp_path):
    names = {
        ".tmp-export-dead": "dir", ".tmp-export-dead.tflite": "file",
        ".tmp-export-recent": "dir",          # may be an export that has not locked yet
        ".tmp-something-else": "dir", "tmp-export-x": "dir", "1": "dir",   # not ours
    }
    for name, kind in names.items():
        path = tmp_path / name
        path.mkdir() if kind == "dir" else path.write_bytes(b"x")
        if name != ".tmp-export-recent":
            _age(path)
    live = staging.TempDir(str(tmp_path))   # locked by this process
    _age(live.path)
    removed = staging.remove_stale(str(tmp_path))
    assert sorted(os.path.basename(p) for p in removed) == [
        ".tmp-export-dead", ".tmp-export-dead.tflite"]
    assert sorted(os.listdir(tmp_path)) == sorted(
        [".tmp-export-recent", ".tmp-something-else", "tmp-export-x", "1",
         os.path.basename(live.path)])
    live.remove()


def test_export_removes_stale_temporary_directories(tmp_path):
    model = make_model()
    stale = tmp_path / "m" / ".tmp-export-abc123"   # as a killed export leaves it
    (stale / "variables").mkdir(parents=True)
    _age(stale)
    report = mtl.exporters.export_saved_model(model, tmp_path, model_name="m")
    assert sorted(os.listdir(tmp_path / "m")) == ["1"]
    assert report.path == str(tmp_path / "m" / "1")


def test_models_config_entry_exists_before_the_version_appears(tmp_path, monkeypatch):
    model = make_model()
    rename = os.rename
    seen = []

    def killed_right_after_publishing(src, dst):
        if not os.path.basename(dst).isdigit():
            return rename(src, dst)
        seen.append(_config_names(tmp_path))   # the entry must already be there
        rename(src, dst)
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "rename", killed_right_after_publishing)
    with pytest.raises(KeyboardInterrupt):
        mtl.exporters.export_saved_model(model, tmp_path, model_name="m")
    assert seen == [["m"]]
    assert os.listdir(tmp_path / "m") == ["1"]         # published, and not rolled back
    assert _config_names(tmp_path) == ["m"]


def test_staged_file_is_published_by_one_rename(tmp_path):
    target = tmp_path / "sub" / "m.onnx"
    staged = staging.StagedFile(str(target), b"content")
    staged.write()
    (tmp_name,) = os.listdir(tmp_path / "sub")
    assert tmp_name.startswith(".tmp-export-") and tmp_name.endswith(".onnx")
    assert not target.exists()
    staged.commit()
    assert os.listdir(tmp_path / "sub") == ["m.onnx"] and target.read_bytes() == b"content"
    other = staging.StagedFile(str(target), b"new")
    other.write()
    other.discard()
    assert os.listdir(tmp_path / "sub") == ["m.onnx"] and target.read_bytes() == b"content"
