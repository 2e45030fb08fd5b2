import os

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

import mtl_keras as mtl
from mtl_keras.exporters import saved_model as sm
from mtl_keras.exporters import signatures as sig
from mtl_keras.exporters.verify import VerificationError


def _tree(path):
    """{relative path: bytes} of every file under `path`."""
    out = {}
    for root, _, files in os.walk(path):
        for f in files:
            full = os.path.join(root, f)
            with open(full, "rb") as fh:
                out[os.path.relpath(full, path)] = fh.read()
    return out


def test_versions_signatures_and_parity(model, sample, tmp_path):
    base = tmp_path / "serving"
    first = mtl.exporters.export_saved_model(model, base, model_name="m",
                                             sample_inputs=sample[0])
    assert first.path == str(base / "m" / "1")
    before = _tree(first.path)
    second = mtl.exporters.export_saved_model(model, base, model_name="m")
    assert second.path == str(base / "m" / "2")
    assert _tree(first.path) == before  # the first version is untouched
    assert sorted(os.listdir(base / "m")) == ["1", "2"]  # no temporary leftovers
    assert first.size_bytes == sum(len(v) for v in before.values())

    loaded = tf.saved_model.load(first.path)
    assert sorted(loaded.signatures) == ["a", "b", "c", "serving_default"]
    feed = {k: tf.constant(v) for k, v in sample[0].items()}
    full = loaded.signatures["serving_default"](**feed)
    assert sorted(full) == ["a", "b", "c"]
    expected = sig.keras_outputs(model, sample[0])
    for name in "abc":
        only = loaded.signatures[name](**feed)
        assert list(only) == [name]
        np.testing.assert_allclose(only[name].numpy(), expected[name], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(full[name].numpy(), expected[name], rtol=1e-5, atol=1e-6)
    # 6 checks: serving_default x 3 tasks + 3 per-task signatures, all exact here.
    assert len(first.checks) == 6 and first.ok


def test_per_task_signature_captures_fewer_variables(model, tmp_path):
    report = mtl.exporters.export_saved_model(model, tmp_path, model_name="m")
    loaded = tf.saved_model.load(report.path)
    assert len(loaded.signatures["serving_default"].captured_inputs) == 2 + 3 * 2
    for name in "abc":
        assert len(loaded.signatures[name].captured_inputs) == 2 + 2


class _LearnedWeights(mtl.weighting.LossWeighting):
    """A strategy with state, like uncertainty weighting's log-variances."""

    def build(self, input_shape=None):
        self.w = self.add_weight(shape=(self.num_tasks,), initializer="ones", name="w")

    def compute_weights(self, global_losses, present, training):
        return self.w


def test_weighting_variables_are_not_exported(model, tmp_path):
    model.compile(optimizer="adam", weighting=_LearnedWeights())
    report = mtl.exporters.export_saved_model(model, tmp_path, model_name="m")
    assert model.weighting.variables  # the static weights live in variables
    loaded = tf.saved_model.load(report.path)
    # Trunk kernel+bias and three heads' kernel+bias: nothing from the weighting.
    assert len({id(v) for v in loaded.variables}) == 2 + 3 * 2


def test_models_config_keeps_other_models(model, tmp_path):
    (tmp_path / "models.config").write_text(
        'model_config_list { config { name: "other" base_path: "/srv/other" '
        'model_platform: "tensorflow" } }')
    mtl.exporters.export_saved_model(model, tmp_path, model_name="m")
    mtl.exporters.export_saved_model(model, tmp_path, model_name="m")
    config = text_format.Parse((tmp_path / "models.config").read_text(),
                               model_server_config_pb2.ModelServerConfig())
    entries = {c.name: c for c in config.model_config_list.config}
    assert sorted(entries) == ["m", "other"]
    assert entries["m"].base_path == str(tmp_path / "m")
    assert entries["m"].model_platform == "tensorflow"


def test_warmup_records_one_per_signature(model, sample, tmp_path):
    warm = {k: v[:2] for k, v in sample[0].items()}
    report = mtl.exporters.export_saved_model(model, tmp_path, model_name="m",
                                              warmup_inputs=warm)
    requests = mtl.exporters.read_warmup_requests(report.path)
    assert [r.model_spec.signature_name for r in requests] == ["serving_default", "a", "b", "c"]
    assert all(r.model_spec.name == "m" for r in requests)
    np.testing.assert_array_equal(tf.make_ndarray(requests[0].inputs["z"]), warm["z"])


def test_path_that_is_a_file_raises_and_writes_nothing(model, tmp_path):
    target = tmp_path / "taken"
    target.write_text("not a directory")
    with pytest.raises(FileExistsError, match="Received: a file"):
        mtl.exporters.export_saved_model(model, target, model_name="m")
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "m").write_text("x")
    with pytest.raises(FileExistsError, match="Received: a file"):
        mtl.exporters.export_saved_model(model, tmp_path / "base", model_name="m")
    assert target.read_text() == "not a directory"
    assert os.listdir(tmp_path / "base") == ["m"]


def test_existing_version_is_never_overwritten(model, tmp_path):
    mtl.exporters.export_saved_model(model, tmp_path, model_name="m")
    before = _tree(tmp_path / "m" / "1")
    with pytest.raises(FileExistsError, match="never overwritten"):
        mtl.exporters.export_saved_model(model, tmp_path, model_name="m", version=1)
    assert _tree(tmp_path / "m" / "1") == before
    report = mtl.exporters.export_saved_model(model, tmp_path, model_name="m", version=7)
    assert report.path.endswith(os.path.join("m", "7"))


def test_disagreement_publishes_nothing(model, tmp_path, monkeypatch):
    real = sig.keras_outputs
    monkeypatch.setattr(sig, "keras_outputs",
                        lambda m, f: {k: v + 1e-3 for k, v in real(m, f).items()})
    with pytest.raises(VerificationError, match="Nothing was published"):
        mtl.exporters.export_saved_model(model, tmp_path, model_name="m")
    assert os.listdir(tmp_path / "m") == []
    assert not (tmp_path / "models.config").exists()


def test_crash_while_writing_leaves_no_version(model, tmp_path, monkeypatch):
    def crash(model, path, tasks=None):
        os.makedirs(os.path.join(path, "variables"))
        raise KeyboardInterrupt

    monkeypatch.setattr(sm, "write_saved_model", crash)
    with pytest.raises(KeyboardInterrupt):
        mtl.exporters.export_saved_model(model, tmp_path, model_name="m")
    assert os.listdir(tmp_path / "m") == []


def test_bad_model_name_and_version(model, tmp_path):
    with pytest.raises(ValueError, match="Expected model_name"):
        mtl.exporters.export_saved_model(model, tmp_path, model_name="../up")
    with pytest.raises(ValueError, match="Expected version"):
        mtl.exporters.export_saved_model(model, tmp_path, model_name="m", version=0)
    assert os.listdir(tmp_path) == []
