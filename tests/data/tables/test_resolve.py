"""Bad input: each a clear error from `DataSpec.load()`, before training, with nothing written."""

import os
import re

import pandas as pd
import pytest

from mtl_keras.data import DataSpec

HEADER = "id,x,city,y,c"


def _csv(path, rows, header=HEADER):
    path.write_text(header + "\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    return str(path)


def _good(i):
    return f"{i},{i * 0.5},{'Oslo' if i % 2 else 'Rome'},{i * 1.5},{'a' if i % 3 else 'b'}"


def _fails(tmp_path, pattern, **spec):
    """`DataSpec(**spec).load()` raises a ValueError matching `pattern`; no file appears."""
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(ValueError, match=pattern) as info:
        DataSpec(**spec).load()
    assert sorted(os.listdir(tmp_path)) == before
    return str(info.value)


def test_a_column_that_is_not_in_the_file_lists_the_columns(tmp_path):
    train = _csv(tmp_path / "t.csv", [_good(i) for i in range(4)])
    message = _fails(tmp_path, "Expected the column", train=train, targets=["y", "color"])
    assert message == (
        f"Expected the column(s) 'color' (target of task 'color') in CSV {train}. Received a "
        "table whose columns are ['id', 'x', 'city', 'y', 'c'].")
    _fails(tmp_path, re.escape("'x2' (feature)"), train=train, targets=["y"], features=["x2"])


def test_a_target_without_any_value(tmp_path):
    train = _csv(tmp_path / "t.csv", ["1,0.5,Oslo,,a", "2,1.0,Rome,NA,b"])
    _fails(tmp_path, r"Expected labels in target column 'y' \(target of task 'y'\). Received no "
                     r"non-empty value in the 2 rows of the training split", train=train,
           targets=["y", "c"])


def test_an_unparseable_number_names_column_line_value_and_the_way_out(tmp_path):
    rows = [_good(i) for i in range(5)]
    rows[3] = "3,1.5x,Oslo,4.5,a"
    train = _csv(tmp_path / "t.csv", rows)
    message = _fails(tmp_path, "Expected a number", train=train, targets=["y"],
                     features={"x": "float_normalized"})
    assert message == (
        "Expected a number in column 'x' (float_normalized feature). Received: '1.5x' at "
        f"{train} line 5. Declare the column with a string type, add the marker to "
        "`na_values`, or set `invalid_values: missing` to read unparseable numbers as missing.")
    # The way out: the cell is then a missing value (filled with the mean of the others).
    data = DataSpec(train=train, targets=["y"], features={"x": "float_normalized"},
                    invalid_values="missing").load()
    assert data.features[0].mean == (0 + 0.5 + 1.0 + 2.0) / 4


def test_an_unparseable_number_found_after_the_type_sample(tmp_path):
    rows = [_good(i) for i in range(30)] + ["30,oops,Oslo,1,a"]
    train = _csv(tmp_path / "t.csv", rows)
    _fails(tmp_path, f"'oops' at {re.escape(train)} line 32", train=train, targets=["y"],
           sample_rows=10)
    target = _csv(tmp_path / "u.csv", [_good(i) for i in range(3)] + ["3,1,Oslo,4..5,a"])
    _fails(tmp_path, r"number in column 'y' \(regression target of task 'y'\). Received: "
                     r"'4..5'", train=target, targets={"y": "regression"})


def test_a_class_label_in_validation_or_test_that_training_does_not_have(tmp_path):
    train = _csv(tmp_path / "t.csv", [_good(i) for i in range(6)])
    val = _csv(tmp_path / "v.csv", [_good(1), "9,1,Oslo,2,zz"])
    message = _fails(tmp_path, "Expected the validation labels", train=train, validation=val,
                     targets=["y", "c"])
    assert message == (
        "Expected the validation labels of target column 'c' (task 'c') among the classes of "
        f"the training split ['a', 'b']. Received 'zz' at {val} line 3, which no training row "
        "has. Add it to the target's `classes` in the spec, or remove those rows.")
    test = _csv(tmp_path / "s.csv", ["9,1,Oslo,2,7"], header="id,x,city,y,n")
    train_n = _csv(tmp_path / "n.csv", [f"{i},1,Oslo,{i * 1.5},{i % 3}" for i in range(6)],
                   header="id,x,city,y,n")
    _fails(tmp_path, r"test labels of target column 'n'.*\[0, 1, 2\]. Received '7'",
           train=train_n, test=test, targets=["y", "n"])


def test_files_whose_headers_differ(tmp_path):
    _csv(tmp_path / "part-0.csv", [_good(0)])
    _csv(tmp_path / "part-1.csv", ["1,0.5,Oslo,1.5"], header="id,x,city,y")
    _fails(tmp_path, r"same header.*\(missing \['c'\], extra \[\]\)",
           train=str(tmp_path / "part-*.csv"), targets=["y"])


def test_an_empty_source(tmp_path):
    train = _csv(tmp_path / "t.csv", [_good(i) for i in range(3)])
    empty = _csv(tmp_path / "v.csv", [])
    _fails(tmp_path, re.escape(f"Expected rows in CSV {empty}. Received none: the source is "
                               "empty."), train=train, validation=empty, targets=["y"])
    nothing = tmp_path / "z.csv"
    nothing.write_text("")
    _fails(tmp_path, "header line naming the columns", train=str(nothing), targets=["y"])
    _fails(tmp_path, "the source is empty", train=pd.DataFrame({"x": [], "y": []}),
           targets=["y"])


def test_a_split_without_rows(tmp_path):
    source = _csv(tmp_path / "t.csv", [_good(i) for i in range(3)])
    _fails(tmp_path, r"Expected rows in the test split of CSV .* \(by key 'id'\). Received none "
                     r"of the 3 rows", source=source, targets=["y"],
           split={"key": "id", "fractions": {"train": 0.98, "test": 0.02}})


def test_an_empty_split_key(tmp_path):
    source = _csv(tmp_path / "t.csv", [_good(0), ",1,Oslo,2,a"])
    _fails(tmp_path, f"empty key at {re.escape(source)} line 3", source=source, targets=["y"],
           split={"key": "id"})


def test_a_glob_that_matches_nothing(tmp_path):
    _fails(tmp_path, re.escape(f"Expected paths to match at least one file. Received: "
                               f"'{tmp_path / 'data' / '*.csv'}', which matches no file."),
           train=str(tmp_path / "data" / "*.csv"), targets=["y"])


def test_a_task_and_a_feature_on_the_same_column(tmp_path):
    _fails(tmp_path, re.escape("Expected a column to be either a feature or a target (a task "
                               "cannot see its own label). Received columns used as both: "
                               "['y']"), train="t.csv", targets=["y"], features=["x", "y"])


def test_a_line_with_another_number_of_fields(tmp_path):
    train = _csv(tmp_path / "t.csv", [_good(0), "1,2,3"])
    _fails(tmp_path, re.escape(f"Expected 5 fields on every line of {train} (its header has 5 "
                               "columns). Received 3 fields on line 3"),
           train=train, targets=["y"])


def test_a_declared_binary_target_with_three_classes(tmp_path):
    train = _csv(tmp_path / "t.csv", [f"{i},1,Oslo,{i * 1.5},{'abc'[i % 3]}" for i in range(6)])
    _fails(tmp_path, r"Expected 2 classes in binary target column 'c'.*\['a', 'b', 'c'\] "
                     r"\(declare `kind: multiclass`\)", train=train,
           targets={"y": None, "c": "binary"})
