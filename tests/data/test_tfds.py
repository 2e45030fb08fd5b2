"""Tests of the TFDS adapter, offline: mocked data and a locally written dataset."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import mtl_keras as mtl
from mtl_keras.data.tfds import tfds_dataset


def test_mock_mnist_to_task_dict():
    with tfds.testing.mock_data(num_examples=5):
        ds = tfds_dataset("mnist", {"digit": "label"}, "image",
                          map_features=lambda x: tf.cast(x, "float32") / 255.0,
                          batch_size=5)
        x, y = next(iter(ds))
    assert x.shape == (5, 28, 28, 1) and x.dtype == tf.float32
    assert sorted(y) == ["digit"] and y["digit"].shape == (5,)
    assert np.all((y["digit"].numpy() >= 0) & (y["digit"].numpy() < 10))


def test_unknown_feature_names_fail_before_reading():
    builder = tfds.builder("mnist")  # info only: nothing is prepared or read
    with pytest.raises(ValueError, match=r"among \['image', 'label'\]. Received unknown "
                                         r"features: \{'digit': 'digit_label'\}"):
        tfds_dataset(builder, {"digit": "digit_label"}, "image")
    with pytest.raises(ValueError, match=r"Received unknown features: \['pixels'\]"):
        tfds_dataset(builder, {"digit": "label"}, "pixels")
    with pytest.raises(ValueError, match="used as both"):
        tfds_dataset(builder, {"digit": "label"}, ["image", "label"])
    with pytest.raises(ValueError, match="label feature for every task"):
        tfds_dataset(builder, {"digit": "label"}, "image",
                     tasks=[mtl.Task("digit", "multiclass", num_classes=10),
                            mtl.Task("odd", "binary")])


def _store_penguins(data_dir, n=24):
    """Writes the first `n` training penguins as a TFDS dataset in `data_dir`."""
    split = mtl.data.load_penguins().train
    features = tfds.features.FeaturesDict({
        "measurements": tfds.features.Tensor(shape=(3,), dtype=np.float32),
        "island": tfds.features.Tensor(shape=(3,), dtype=np.float32),
        "species": tfds.features.ClassLabel(num_classes=3),
        "sex": tfds.features.Tensor(shape=(), dtype=np.int32),  # -1: unknown
        "body_mass": tfds.features.Tensor(shape=(), dtype=np.float32),
    })
    examples = dict(split.features)
    examples.update(split.labels)
    examples = {k: v[:n] for k, v in examples.items()}
    examples["species"] = examples["species"].astype("int64")
    return tfds.dataset_builders.store_as_tfds_dataset(
        name="penguins_mtl", version="1.0.0", features=features,
        split_datasets={"train": tf.data.Dataset.from_tensor_slices(examples)},
        data_dir=str(data_dir)), examples


def test_stored_penguins_load_back_and_train(tmp_path):
    _, expected = _store_penguins(tmp_path)
    data = mtl.data.load_penguins()
    label_keys = {"species": "species", "sex": "sex", "body_mass": "body_mass"}
    ds = tfds_dataset("penguins_mtl", label_keys, ["measurements", "island"],
                      data_dir=str(tmp_path), tasks=data.tasks)
    rows = list(ds.as_numpy_iterator())
    assert len(rows) == 24
    got = sorted(float(y["body_mass"]) for _, y in rows)
    np.testing.assert_allclose(got, np.sort(expected["body_mass"]), rtol=1e-6)
    assert sorted(int(y["sex"]) for _, y in rows) == sorted(expected["sex"].tolist())

    model = mtl.build_hard_sharing(data.inputs(), mtl.backbones.mlp([4]), data.tasks)
    model.compile(optimizer="adam")
    history = model.fit(ds.batch(12), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_stored_dataset_feeds_the_sampler(tmp_path):
    builder, _ = _store_penguins(tmp_path, n=12)
    tasks = [mtl.Task("species", "multiclass", num_classes=3), mtl.Task("body_mass", "regression")]
    per_task = {  # one by name, one from the builder object
        "species": tfds_dataset("penguins_mtl", {"species": "species"}, "measurements",
                                data_dir=str(tmp_path)),
        "body_mass": tfds_dataset(builder, {"body_mass": "body_mass"}, "measurements"),
    }
    sampler = mtl.data.TaskSampler(per_task, tasks, 6, strategy="round_robin")
    _, y = next(iter(sampler.dataset()))
    assert sampler.sizes == {"species": 12, "body_mass": 12}
    assert np.all(y["species"].numpy()[1::2] == -1)
    assert np.all(np.isnan(y["body_mass"].numpy()[0::2]))


def test_unknown_dataset_name(tmp_path):
    with pytest.raises(ValueError, match="registered or prepared in data_dir"):
        tfds_dataset("no_such_dataset_xyz", {"a": "label"}, data_dir=str(tmp_path))
