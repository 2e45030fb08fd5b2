import numpy as np

import mtl_keras as mtl


def test_split_sizes_and_determinism():
    a = mtl.data.load_penguins(seed=0)
    b = mtl.data.load_penguins(seed=0)
    c = mtl.data.load_penguins(seed=1)
    assert (len(a.train), len(a.validation), len(a.test)) == (239, 51, 52)
    np.testing.assert_array_equal(a.test.labels["body_mass"], b.test.labels["body_mass"])
    assert not np.array_equal(a.test.labels["body_mass"], c.test.labels["body_mass"])


def test_labels_and_masking_rows():
    data = mtl.data.load_penguins()
    all_sex = np.concatenate([s.labels["sex"] for s in (data.train, data.validation, data.test)])
    # 11 rows lack sex; 2 of them also lack measurements and are dropped.
    assert int((all_sex == -1).sum()) == 9
    assert set(np.unique(all_sex)) == {-1, 0, 1}
    species = np.concatenate([s.labels["species"] for s in (data.train, data.validation,
                                                             data.test)])
    np.testing.assert_array_equal(np.bincount(species), [151, 68, 123])
    assert 2.5 < data.train.labels["body_mass"].mean() < 5.5     # kilograms
    np.testing.assert_array_equal(data.train.features["island"].sum(axis=1), 1.0)


def test_normalization_adapted_on_train_only():
    data = mtl.data.load_penguins()
    norm = data.preprocessing()["measurements"]
    np.testing.assert_allclose(np.asarray(norm.mean).ravel(),
                               data.train.features["measurements"].mean(axis=0), rtol=1e-4)


def test_dataset_yields_task_dicts():
    data = mtl.data.load_penguins()
    x, y = next(iter(data.dataset("test", batch_size=8)))
    assert sorted(x) == ["island", "measurements"] and sorted(y) == ["body_mass", "sex",
                                                                     "species"]
    _, y = next(iter(data.dataset("test", batch_size=8, tasks=["sex"])))
    assert list(y) == ["sex"]
