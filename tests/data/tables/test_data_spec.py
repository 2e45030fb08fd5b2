"""DataSpec: reading and writing the spec, static checks, and resolution on data by hand."""

import json

import numpy as np
import pandas as pd
import pytest

from mtl_keras.data import DataSpec
from mtl_keras.data.tables import CsvSource, FeatureColumn, HashSplit, TargetColumn


def _csv(path, header, rows):
    path.write_text(header + "\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_from_dict_forms_and_to_dict(tmp_path):
    spec = DataSpec.from_dict({
        "train": "train.csv", "validation": {"type": "csv", "paths": ["val.csv"]},
        "features": {"age": "float_normalized", "city": None,
                     "zip": {"type": "string_hashed", "num_bins": 8}},
        "targets": {"price": "regression", "sold": {"kind": "binary", "weight": 2.0}},
        "crosses": [["city", "zip"]], "invalid_values": "missing"}, base_dir=str(tmp_path))
    assert [f.column for f in spec.features] == ["age", "city", "zip"]
    assert spec.features[1].type is None and spec.features[2].num_bins == 8
    assert [t.kind for t in spec.targets] == ["regression", "binary"]
    assert spec.sources["train"].paths == [str(tmp_path / "train.csv")]
    assert spec.splits == ["train", "validation"] and not spec.is_resolved
    config = spec.to_dict()
    assert config["train"]["paths"] == [str(tmp_path / "train.csv")]
    assert config["targets"]["sold"] == {"task": "sold", "kind": "binary", "weight": 2.0}
    assert config["crosses"] == [{"columns": ["city", "zip"], "crossing_dim": 32}]
    assert DataSpec.from_dict(json.loads(json.dumps(config))).to_dict() == config
    listed = DataSpec(targets=["y"], features=["a", FeatureColumn("b", "float", fill_value=0.0)],
                      train="t.csv")
    assert [(f.column, f.type) for f in listed.features] == [("a", None), ("b", "float")]


def test_static_errors_before_any_file_is_opened():
    base = {"train": "missing-dir/*.csv", "targets": ["y"]}
    with pytest.raises(ValueError, match=r"either a feature or a target.*\['y'\]"):
        DataSpec.from_dict({**base, "features": ["x", "y"]})
    with pytest.raises(ValueError, match=r"unknown keys: \['target'\]"):
        DataSpec.from_dict({"train": "t.csv", "target": ["y"]})
    with pytest.raises(ValueError, match="Expected `targets`"):
        DataSpec.from_dict({"train": "t.csv"})
    with pytest.raises(ValueError, match="either `source` with a `split`, or `train`"):
        DataSpec.from_dict({**base, "source": "a.csv", "split": {"key": "id"}})
    with pytest.raises(ValueError, match="Expected a `split`"):
        DataSpec.from_dict({"source": "a.csv", "targets": ["y"]})
    with pytest.raises(ValueError, match="Expected a `train` source"):
        DataSpec.from_dict({"validation": "a.csv", "targets": ["y"]})
    with pytest.raises(ValueError, match=r"target column once.*\['y'\]"):
        DataSpec.from_dict({**base, "targets": ["y", "y"]})
    with pytest.raises(ValueError, match="both map to 'a_b'"):
        DataSpec.from_dict({**base, "features": ["a b", "a-b"]})
    with pytest.raises(ValueError, match="both map to 'price'; set `input`"):
        DataSpec.from_dict({**base, "targets": ["price"], "features": ["price!"]})
    with pytest.raises(ValueError, match=r"crosses of feature columns \['a', 'b'\]"):
        DataSpec.from_dict({**base, "features": ["a", "b"], "crosses": [["a", "c"]]})
    with pytest.raises(ValueError, match="split key to be an id, not a target"):
        DataSpec.from_dict({"source": "a.csv", "split": {"key": "y"}, "targets": ["y"]})
    with pytest.raises(ValueError, match="invalid_values 'error' or 'missing'"):
        DataSpec.from_dict({**base, "invalid_values": "skip"})
    with pytest.raises(ValueError, match="sample_rows to be an int >= 1"):
        DataSpec.from_dict({**base, "sample_rows": 0})
    with pytest.raises(ValueError, match=r"cache 'auto' .*'memory' .*'disk' .*None or False "
                                         r"\(read the files every epoch\). Received: cache='yes'"):
        DataSpec.from_dict({**base, "cache": "yes"})
    with pytest.raises(ValueError, match="Bad options for target 'y'"):
        DataSpec.from_dict({"train": "t.csv", "targets": {"y": {"knd": "binary"}}})
    with pytest.raises(ValueError, match="excluded columns not to be used"):
        DataSpec.from_dict({**base, "features": ["x"], "exclude": ["x"]})
    with pytest.raises(ValueError, match=r"positive fractions, one for 'train', summing to 1"):
        HashSplit("id", {"train": 0.5, "test": 0.3})


def test_resolution_by_hand(tmp_path):
    train = _csv(tmp_path / "train.csv", "x,city,n,y,c",
                 ["0.5,Oslo,1,0.5,a", "2.5,Rome,2,1.5,b", ",Oslo,1,,a", "4.5,NA,3,2.5,"])
    val = _csv(tmp_path / "val.csv", "x,city,n,y,c", ["2,Paris,7,1,b"])
    data = DataSpec(targets=["y", "c"], train=train, validation=val).load()
    f = {c.column: c for c in data.features}
    # x: numbers 0.5, 2.5, 4.5 (one missing): mean 2.5, population variance 8/3.
    assert f["x"].type == "float_normalized" and f["x"].mean == 2.5
    np.testing.assert_allclose(f["x"].variance, 8 / 3)
    assert f["x"].fill_value == 2.5
    # city: Oslo twice, Rome and "" (NA) once each; ties sorted.
    assert f["city"].type == "string_categorical" and f["city"].vocabulary == ["Oslo", "", "Rome"]
    # n: whole numbers with 3 distinct values -> categorical, most frequent first.
    assert f["n"].type == "integer_categorical" and f["n"].vocabulary == [1, 2, 3]
    t = {c.column: c for c in data.targets}
    assert t["y"].kind == "regression" and t["c"].kind == "binary" and t["c"].classes == ["a", "b"]
    assert data.spec.rows == {"train": 4, "validation": 1} and data.spec.is_resolved


def test_inference_thresholds(tmp_path):
    rows = [f"{i},{i % 12},{i % 3},w{i % 5},{i % 11}" for i in range(60)]
    path = _csv(tmp_path / "t.csv", "a,b,c,d,y", rows)
    data = DataSpec(targets=["y"], train=path, max_integer_categories=11,
                    max_categories=4, max_inferred_classes=10).load()
    types = {f.column: f.type for f in data.features}
    # a: 60 distinct whole numbers > 11 -> numeric; b: 12 > 11 -> numeric; c: 3 -> categorical;
    # d: 5 distinct texts > max_categories 4 -> hashed with hashing_dim bins.
    assert types == {"a": "float_normalized", "b": "float_normalized",
                     "c": "integer_categorical", "d": "string_hashed"}
    assert data.features[3].num_bins == 32
    # y: 11 distinct whole numbers > max_inferred_classes 10 -> regression.
    assert data.targets[0].kind == "regression"
    data = DataSpec(targets=["y"], train=path, max_inferred_classes=11).load()
    assert data.targets[0].kind == "multiclass" and data.targets[0].classes == list(range(11))


def test_declared_state_is_kept_and_only_missing_state_resolved(tmp_path):
    path = _csv(tmp_path / "t.csv", "x,c,y", ["1,a,0", "3,b,1"])
    spec = DataSpec(targets={"y": {"kind": "multiclass", "classes": [0, 1, 2]}},
                    features={"x": {"type": "float_normalized", "mean": 10.0, "variance": 1.0},
                              "c": {"type": "string_categorical", "vocabulary": ["b"]}},
                    train=path)
    data = spec.load()
    x, c = data.features
    assert (x.mean, x.variance, x.fill_value) == (10.0, 1.0, 2.0)
    assert c.vocabulary == ["b"] and data.targets[0].classes == [0, 1, 2]


def test_saved_spec_loads_back_without_reading_data(tmp_path):
    path = _csv(tmp_path / "t.csv", "x,c,y", ["1,a,0", "3,b,1"])
    data = DataSpec(targets=["y"], train=path).load()
    saved = data.save_spec(str(tmp_path / "data_spec.json"))
    (tmp_path / "t.csv").unlink()  # the data is gone: the resolved spec is enough
    spec = DataSpec.read(saved)
    assert spec.is_resolved and spec.to_dict() == data.spec.to_dict()
    again = spec.load(check=False)
    assert again.tasks == data.tasks
    assert [f.get_config() for f in again.features] == [f.get_config() for f in data.features]
    (tmp_path / "bad.json").write_text('{"targets": ["y"],\n "train": }')
    with pytest.raises(ValueError, match="invalid JSON at line 2, column 11"):
        DataSpec.read(str(tmp_path / "bad.json"))


def test_with_sources_and_dataframe_spec_round_trip():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": ["a", "b", "a", "b"]})
    data = DataSpec(targets=["y"], train=frame).load()
    config = data.spec.to_dict()
    assert config["train"] == {"type": "dataframe", "columns": {"x": "float64", "y": "string"}}
    spec = DataSpec.from_dict(config)
    assert spec.is_resolved
    other = spec.with_sources(train=frame.iloc[:2])
    batch = next(iter(other.load(check=False).dataset("train", batch_size=8, shuffle=False)))
    assert batch[1]["y"].numpy().tolist() == [0, 1]


def test_hash_split_rows_never_move_when_the_file_grows(tmp_path):
    def split_of(n):
        path = _csv(tmp_path / "t.csv", "id,x,y", [f"{i},{i},{i % 2}" for i in range(n)])
        data = DataSpec(targets=["y"], features=["x"], source=path,
                        split={"key": "id", "fractions": {"train": 0.6, "validation": 0.2,
                                                          "test": 0.2}}).load()
        out = {}
        for split in ("train", "validation", "test"):
            for x, _ in data.dataset(split, batch_size=64, shuffle=False):
                out.update({int(v): split for v in x["x"].numpy().ravel()})
        return out, data.spec.rows

    small, rows_small = split_of(200)
    large, rows_large = split_of(2000)
    assert all(large[i] == small[i] for i in small)
    assert sum(rows_small.values()) == 200 and sum(rows_large.values()) == 2000
    # The fractions hold within sampling error (3 sigma of a binomial).
    assert abs(rows_large["train"] - 1200) < 3 * np.sqrt(2000 * 0.6 * 0.4)
    salted = HashSplit("id", {"train": 0.6, "validation": 0.2, "test": 0.2}, salt="2")
    unsalted = HashSplit("id", {"train": 0.6, "validation": 0.2, "test": 0.2})
    import tensorflow as tf
    keys = tf.constant([str(i) for i in range(200)])
    assert (salted.assign(keys).numpy() != unsalted.assign(keys).numpy()).any()


def test_single_source_must_be_csv_like_for_path_strings():
    spec = DataSpec(targets=["y"], train="a.tsv")
    assert isinstance(spec.sources["train"], CsvSource) and spec.sources["train"].delimiter == "\t"
    assert isinstance(spec.targets[0], TargetColumn)
