"""Table sources: CSV, Parquet, TFRecord, TFDS and DataFrame, read as batches of raw columns."""

import gzip

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from mtl_keras.data.tables import (
    CsvSource,
    DataFrameSource,
    ParquetSource,
    TFRecordSource,
    TfdsSource,
    source_from_config,
)


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def _rows(source, columns, **kwargs):
    """Every batch concatenated: {column: list of values}."""
    out = {c: [] for c in columns}
    extra = ["__part__", "__row__"] if kwargs.get("with_location") else []
    out.update({c: [] for c in extra})
    for batch in source.raw_dataset(columns, **kwargs).as_numpy_iterator():
        for c in out:
            out[c].extend(batch[c].tolist())
    return out


# -------------------------------------------------------------------------- CSV
def test_csv_shards_are_read_with_their_lines(tmp_path):
    _write(tmp_path / "a.csv", "x,city\n1,Oslo\n\n2,\"Rome, IT\"\r\n")
    _write(tmp_path / "b.csv", "x,city\n3,Paris\n")
    source = CsvSource(str(tmp_path / "*.csv"))
    assert source.columns() == {"x": "string", "city": "string"}
    got = _rows(source, ["city", "x"], batch_size=2, with_location=True)
    # The blank line is skipped but counted; the quoted comma stays in its field.
    assert got["city"] == [b"Oslo", b"Rome, IT", b"Paris"]
    assert got["x"] == [b"1", b"2", b"3"]
    assert got["__part__"] == [0, 0, 1] and got["__row__"] == [2, 4, 2]
    assert source.location(1, 2) == f"{tmp_path / 'b.csv'} line 2"


def test_csv_crlf_whitespace_lines_and_empty_edge_cells(tmp_path):
    # Windows line ends everywhere (a quoted last field too), lines of only
    # spaces or tabs (skipped, but counted), and TSV cells empty at either end.
    _write(tmp_path / "w.csv", 'x,city\r\n1,"Oslo"\r\n  \r\n\t\r\n2,Rome\r\n')
    got = _rows(CsvSource(str(tmp_path / "w.csv")), ["x", "city"], batch_size=8,
                with_location=True)
    assert got["city"] == [b"Oslo", b"Rome"] and got["x"] == [b"1", b"2"]
    assert got["__row__"] == [2, 5]
    with gzip.open(tmp_path / "w.csv.gz", "wt", newline="") as f:
        f.write("x,city\r\n3,Paris\r\n")
    assert _rows(CsvSource(str(tmp_path / "w.csv.gz")), ["city"], batch_size=8) \
        == {"city": [b"Paris"]}
    tsv = CsvSource(_write(tmp_path / "e.tsv", "a\tb\tc\n\t2\t\n"))
    assert _rows(tsv, ["a", "b", "c"], batch_size=4) == {"a": [b""], "b": [b"2"], "c": [b""]}


def test_block_reader_cuts_lines_at_every_block_size(tmp_path):
    from mtl_keras.data.tables.csv_source import _block_lines

    # A header, a line end split between two blocks (\r | \n), a blank line,
    # a line longer than small blocks, and a last line without a line end.
    text = "h\r\nab,1\r\n\ncd," + "x" * 40 + "\r\n  \ne,2"
    path = _write(tmp_path / "t.csv", text)
    expected = ["ab,1", "", "cd," + "x" * 40, "  ", "e,2"]
    size = len(text.encode())
    every_size = tf.data.Dataset.range(1, size + 2).flat_map(  # one block size after another
        lambda block: _block_lines(tf.constant(path), tf.constant(size, tf.int64),
                                   tf.constant(3, tf.int64), block).map(lambda b: (block, b)))
    got = {}
    for block, batch in every_size.as_numpy_iterator():
        got.setdefault(int(block), []).extend(line.decode() for line in batch.tolist())
    # No line end at the end: nothing is flushed after the last line.
    assert got == {block: expected for block in range(1, size + 2)}
    _write(tmp_path / "n.csv", "h\na\nb\n")
    got = [line for batch in _block_lines(tf.constant(str(tmp_path / "n.csv")),
                                          tf.constant(6, tf.int64), tf.constant(2, tf.int64), 2)
           for line in batch.numpy().tolist()]
    assert got == [b"a", b"b", b""]  # the flush's empty line comes after the last line


def test_csv_rows_across_many_blocks_match_pythons_csv_reader(tmp_path):
    import csv

    rng = np.random.default_rng(0)
    rows = [[str(i), "q" * int(rng.integers(0, 300)), f'"a, {i}"' if i % 7 == 0 else "b"]
            for i in range(400)]
    lines = ["id,pad,name"] + [",".join(r) for r in rows]
    path = _write(tmp_path / "m.csv", "\r\n".join(lines) + "\r\n")
    source = CsvSource(path)
    assert source._layout(8)[2] < 40_000  # many blocks: the file is about 60 KB
    got = _rows(source, ["id", "pad", "name"], batch_size=8, with_location=True)
    with open(path, newline="") as f:
        want = list(csv.reader(f))[1:]
    assert [v.decode() for v in got["id"]] == [r[0] for r in want]
    assert [v.decode() for v in got["pad"]] == [r[1] for r in want]
    assert [v.decode() for v in got["name"]] == [r[2] for r in want]
    assert got["__row__"] == list(range(2, 402))
    header_only = CsvSource(_write(tmp_path / "h.csv", "id,pad\r\n"))
    assert _rows(header_only, ["id"], batch_size=8) == {"id": []}


def test_csv_shuffle_reads_every_row_once_in_another_order(tmp_path):
    for k in range(3):
        _write(tmp_path / f"part-{k}.csv",
               "i\n" + "".join(f"{k * 100 + i}\n" for i in range(100)))
    source = CsvSource(str(tmp_path / "part-*.csv"))
    plain = [int(v) for v in _rows(source, ["i"], batch_size=64)["i"]]
    shuffled = [int(v) for v in _rows(source, ["i"], batch_size=64, shuffle_buffer=50,
                                      seed=1)["i"]]
    assert sorted(plain) == sorted(shuffled) == sorted(range(300))
    assert shuffled != plain


def test_csv_gzip_header_false_and_tsv(tmp_path):
    path = tmp_path / "t.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("7,a\n8,b\n")
    source = CsvSource(str(path), header=False, column_names=["n", "s"])
    assert source.compression == "GZIP"
    assert _rows(source, ["n", "s"], batch_size=8) == {"n": [b"7", b"8"], "s": [b"a", b"b"]}
    tsv = CsvSource(_write(tmp_path / "t.tsv", "a\tb\n1\t2\n"))
    assert tsv.delimiter == "\t" and _rows(tsv, ["b"], batch_size=4) == {"b": [b"2"]}


def test_csv_header_problems(tmp_path):
    _write(tmp_path / "a.csv", "x,y,z\n1,2,3\n")
    _write(tmp_path / "b.csv", "x,y\n1,2\n")
    with pytest.raises(ValueError, match=r"same header.*b.csv: \['x', 'y'\] \(missing \['z'\], "
                                         r"extra \[\]\)"):
        CsvSource(str(tmp_path / "*.csv")).columns()
    empty = _write(tmp_path / "empty.csv", "")
    with pytest.raises(ValueError, match="header line naming the columns.*empty source"):
        CsvSource(empty).columns()
    dupes = _write(tmp_path / "d.csv", "x,x\n")
    with pytest.raises(ValueError, match=r"unique column names.*\['x'\]"):
        CsvSource(dupes).columns()


def test_csv_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="one character"):
        CsvSource("a.csv", delimiter=";;")
    with pytest.raises(ValueError, match="column_names when header=False"):
        CsvSource("a.csv", header=False)
    with pytest.raises(ValueError, match="compression None or 'GZIP'"):
        CsvSource("a.csv", compression="BZ2")
    with pytest.raises(ValueError, match=r"match at least one file.*nothing-\*\.csv"):
        CsvSource(str(tmp_path / "nothing-*.csv")).columns()


def test_csv_wrong_field_count_is_explained(tmp_path):
    path = _write(tmp_path / "t.csv", "a,b\n1,2\n3\n")
    source = CsvSource(path)
    with pytest.raises(tf.errors.InvalidArgumentError):
        _rows(source, ["a"], batch_size=4)
    assert source.explain_read_error(None) == (
        f"Expected 2 fields on every line of {path} (its header has 2 columns). "
        "Received 1 fields on line 3: ['3']")


# ---------------------------------------------------------------------- Parquet
def test_parquet_shards_types_and_nulls(tmp_path):
    for k, n in ((0, 3), (1, 2)):
        table = pa.table({"i": pa.array([k * 10 + j if j else None for j in range(n)],
                                        pa.int64()),
                          "s": pa.array(["a", None, "c"][:n]),
                          "b": pa.array([True, False, True][:n]),
                          "v": pa.array([[1, 2]] * n)})  # nested: not a column
        pq.write_table(table, tmp_path / f"p{k}.parquet", row_group_size=2)
    source = source_from_config(str(tmp_path / "p*.parquet"))
    assert isinstance(source, ParquetSource)
    assert source.columns() == {"i": "float64", "s": "string", "b": "float64"}
    got = _rows(source, ["i", "s", "b"], batch_size=2, with_location=True)
    assert got["s"] == [b"a", b"", b"c", b"a", b""]
    np.testing.assert_array_equal(got["i"], [np.nan, 1, 2, np.nan, 11])
    assert got["b"] == [1.0, 0.0, 1.0, 1.0, 0.0]
    assert got["__part__"] == [0, 0, 0, 1, 1] and got["__row__"] == [0, 1, 2, 0, 1]


def test_parquet_files_with_other_columns(tmp_path):
    pq.write_table(pa.table({"a": [1], "b": ["x"]}), tmp_path / "1.parquet")
    pq.write_table(pa.table({"a": ["1"], "c": ["x"]}), tmp_path / "2.parquet")
    with pytest.raises(ValueError, match=r"missing \['b'\], extra \['c'\], other types \['a'\]"):
        ParquetSource(str(tmp_path / "*.parquet")).columns()
    _write(tmp_path / "3.parquet", "not parquet")
    with pytest.raises(ValueError, match="Expected a Parquet file"):
        ParquetSource(str(tmp_path / "3.parquet")).columns()


# --------------------------------------------------------------------- TFRecord
@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_per_part_gets_each_parts_parsed_batches(tmp_path, kind):
    # per_part(part, batches) runs inside the interleave of the parts, on one
    # part's batches, parsed (CSV lines split into columns): here it tags them.
    for k in range(3):
        frame = pd.DataFrame({"x": [f"{10 * k + i}" for i in range(4)], "y": ["a"] * 4})
        if kind == "csv":
            frame.to_csv(tmp_path / f"p{k}.csv", index=False)
        else:
            frame.to_parquet(tmp_path / f"p{k}.parquet", index=False)
    source = source_from_config(str(tmp_path / f"p*.{kind}"))
    ds = source.raw_dataset(["x"], 3, shuffle_parts=True, seed=0, per_part=lambda part, batches:
                            batches.map(lambda b: {**b, "part": tf.fill(tf.shape(b["x"]), part)}))
    rows = [(int(x), int(p)) for b in ds.as_numpy_iterator() for x, p in zip(b["x"], b["part"])]
    assert sorted(rows) == [(10 * k + i, k) for k in range(3) for i in range(4)]
    with pytest.raises(ValueError, match=r"Expected shuffle_buffer=0 with per_part .*"
                                         r"Received: shuffle_buffer=5"):
        source.raw_dataset(["x"], 3, shuffle_buffer=5, per_part=lambda part, b: b)


def _example(**features):
    feature = {}
    for k, v in features.items():
        if isinstance(v, bytes):
            feature[k] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))
        elif isinstance(v, int):
            feature[k] = tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))
        else:
            feature[k] = tf.train.Feature(float_list=tf.train.FloatList(value=list(v)))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def test_tfrecord_schema_and_missing_features(tmp_path):
    path = str(tmp_path / "t.tfrecord")
    with tf.io.TFRecordWriter(path) as w:
        w.write(_example(x=[0.5], n=3, s=b"a"))
        w.write(_example(n=4))
    source = source_from_config({"paths": path, "schema": {"x": "float", "n": "int",
                                                           "s": "string"}})
    assert isinstance(source, TFRecordSource)
    assert source.columns() == {"x": "float64", "n": "float64", "s": "string"}
    got = _rows(source, ["x", "n", "s"], batch_size=8, with_location=True)
    np.testing.assert_array_equal(got["x"], [0.5, np.nan])
    assert got["n"] == [3.0, 4.0] and got["s"] == [b"a", b""] and got["__row__"] == [0, 1]
    with pytest.raises(ValueError, match=r"schema types among \['float', 'int', 'string'\]"):
        TFRecordSource(path, {"x": "double"})


def test_tfrecord_several_values_are_refused(tmp_path):
    path = str(tmp_path / "t.tfrecord")
    with tf.io.TFRecordWriter(path) as w:
        w.write(_example(x=[1.0, 2.0]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="at most one value of feature"):
        _rows(TFRecordSource(path, {"x": "float"}), ["x"], batch_size=2)


# ------------------------------------------------------------------------- TFDS
def test_tfds_scalar_columns_of_a_mocked_dataset(tmp_path):
    with tfds.testing.mock_data(num_examples=6, data_dir=str(tmp_path)):
        source = TfdsSource("titanic", split="train", data_dir=str(tmp_path))
        columns = source.columns()
        got = _rows(source, ["age", "name", "survived"], batch_size=4, with_location=True)
    assert columns["age"] == "float64" and columns["name"] == "string"
    assert columns["survived"] == "float64"  # a ClassLabel: its integer id
    assert len(got["survived"]) == 6 and set(got["survived"]) <= {0.0, 1.0}
    assert got["__row__"] == list(range(6))


def test_tfds_stored_table_reads_its_values(tmp_path):
    features = tfds.features.FeaturesDict({
        "size": tfds.features.Scalar(np.float32), "kind": tfds.features.Text(),
        "label": tfds.features.ClassLabel(names=["no", "yes"]),
        "pixels": tfds.features.Tensor(shape=(2,), dtype=np.float32)})
    rows = {"size": np.array([1.5, 2.5], np.float32), "kind": np.array([b"a", b"b"]),
            "label": np.array([1, 0]), "pixels": np.zeros((2, 2), np.float32)}
    tfds.dataset_builders.store_as_tfds_dataset(
        name="tiny_table", version="1.0.0", features=features, data_dir=str(tmp_path),
        split_datasets={"train": tf.data.Dataset.from_tensor_slices(rows)})
    source = source_from_config({"type": "tfds", "name": "tiny_table",
                                 "data_dir": str(tmp_path)})
    assert source.columns() == {"kind": "string", "label": "float64", "size": "float64"}
    got = _rows(source, ["size", "kind", "label"], batch_size=2)
    assert sorted(zip(got["size"], got["kind"], got["label"])) == [(1.5, b"a", 1.0),
                                                                   (2.5, b"b", 0.0)]
    with pytest.raises(ValueError, match="registered or prepared"):
        TfdsSource("no_such_dataset_xyz").columns()


# -------------------------------------------------------------------- DataFrame
def test_dataframe_columns_and_config_without_frame():
    frame = pd.DataFrame({"n": pd.array([1, None], dtype="Int64"), "s": ["a", None],
                          "ok": [True, False]})
    source = source_from_config(frame)
    assert source.columns() == {"n": "float64", "s": "string", "ok": "float64"}
    got = _rows(source, ["n", "s", "ok"], batch_size=4, with_location=True)
    np.testing.assert_array_equal(got["n"], [1.0, np.nan])
    assert got["s"] == [b"a", b""] and got["ok"] == [1.0, 0.0]
    assert source.location(0, 1) == "DataFrame row 1 (index 1)"
    recorded = source_from_config(source.get_config())
    assert recorded.columns() == source.columns()
    with pytest.raises(ValueError, match="records only its columns"):
        recorded.raw_dataset(["n"], batch_size=1)
    with pytest.raises(ValueError, match="string column names"):
        DataFrameSource(pd.DataFrame({0: [1]}))


def test_source_from_config_errors():
    with pytest.raises(ValueError, match="Expected a 'type'"):
        source_from_config("data.xlsx")
    with pytest.raises(ValueError, match=r"source type among \['csv', 'dataframe'"):
        source_from_config({"type": "sql", "paths": "x"})
    with pytest.raises(ValueError, match="Bad options for a csv source"):
        source_from_config({"type": "csv", "paths": "x.csv", "sep": ";"})
    with pytest.raises(TypeError, match="Expected a source"):
        source_from_config(3)


def test_config_round_trip(tmp_path):
    csv = CsvSource("data/*.csv", base_dir=str(tmp_path))
    assert csv.paths == [str(tmp_path / "data" / "*.csv")]
    again = source_from_config(csv.get_config())
    assert again.get_config() == csv.get_config()
    tfr = TFRecordSource("x.tfrecord", {"a": "int"}, compression="GZIP")
    assert source_from_config(tfr.get_config()).get_config() == tfr.get_config()
    tfd = TfdsSource("titanic", split="train[:10%]", data_dir="/d")
    assert source_from_config(tfd.get_config()).get_config() == tfd.get_config()
