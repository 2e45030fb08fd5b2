"""CSV files (one or several shards) as a table source, read by `tf.data`."""

from __future__ import annotations

import csv
import gzip
import os
from typing import Sequence

import tensorflow as tf

from mtl_keras.data.tables.sources import TableSource, expand_paths, number_rows
from mtl_keras.data.tables.values import SPACES

# Bytes of a file read to estimate its line length, and the bounds of a block.
_SAMPLE_BYTES = 1 << 16
_MIN_BLOCK = 1 << 12
_MAX_BLOCK = 1 << 24


def _first_line_bytes(path: str) -> int:
    """Bytes of a file's first line, its line end included (`GFile.readline`
    drops a `\\r`)."""
    size = 0
    with tf.io.gfile.GFile(path, "rb") as f:
        while True:
            chunk = f.read(_SAMPLE_BYTES)
            end = chunk.find(b"\n")
            if end >= 0 or not chunk:
                return size + (end + 1 if end >= 0 else len(chunk))
            size += len(chunk)


def _block_lines(path: tf.Tensor, size: tf.Tensor, header: tf.Tensor,
                 block: int) -> tf.data.Dataset:
    """Batches of the lines of an uncompressed file, read in blocks of bytes.

    About 2x cheaper than `TextLineDataset`, which makes every line a dataset
    element. Each block's lines are its text cut at `\\n`; the line a block
    ends in is carried into the next. Line ends `\\r\\n` become `\\n`, as
    `TextLineDataset` reads them; blank lines stay (numbered, then skipped).

    Args:
        path: The file (a string tensor).
        size: Its size in bytes when the dataset was made (an int64 tensor):
            a file is read as it was then.
        header: Bytes skipped at its start (the header line).
        block: Bytes per block.
    """
    body = size - header
    tail = body % block
    whole = tf.data.FixedLengthRecordDataset(path, block, header_bytes=header, footer_bytes=tail)
    # The last, shorter block (none when `tail` is 0: no byte after the file's end).
    last = tf.data.FixedLengthRecordDataset(path, tf.maximum(tail, 1), header_bytes=size - tail)
    # A final line end flushes a last line that has none.
    blocks = whole.concatenate(last).concatenate(tf.data.Dataset.from_tensors(tf.constant("\n")))

    def cut(carry, data):
        text = tf.strings.regex_replace(carry + data, "\r\n", "\n")  # ~free without \r
        lines = tf.strings.split(text, "\n")
        return lines[-1], lines[:-1]

    # The flush leaves one empty line when the file ends with a line end; it
    # counts after the file's last line, so no line number moves.
    return blocks.scan(tf.constant(""), cut)


class CsvSource(TableSource):
    """Rows of CSV files, streamed: read in blocks of bytes, cut into lines, parsed.

    Every cell is read as a string (`values.py` turns cells into numbers or
    text); quoted fields may contain the delimiter but not a line break. Blank
    lines are skipped; a `\\r\\n` line end is accepted. An uncompressed
    file is read in blocks of about a batch of lines, up to the size it had
    when the dataset was made; a GZIP file line by line.

    Args:
        paths: A path or glob, or a list of them (shards are read interleaved).
        delimiter: The field delimiter; default `","`, or a tab for `.tsv` files.
        header: Whether the first line of every file names the columns. All
            files must then have the same header.
        column_names: The column names when `header=False`.
        compression: `None` or `"GZIP"` (default for `.gz` files).
        base_dir: Directory that relative paths are relative to.

    Example:

    >>> import os, tempfile
    >>> from mtl_keras.data.tables import CsvSource
    >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> _ = open(path, "w").write("x,city\\n1.5,Oslo\\n2,Rome\\n")
    >>> source = CsvSource(path)
    >>> source.columns()
    {'x': 'string', 'city': 'string'}
    >>> batch = next(iter(source.raw_dataset(["x", "city"], batch_size=8)))
    >>> batch["city"].numpy().tolist()
    [b'Oslo', b'Rome']
    """

    kind = "csv"

    def __init__(self, paths: str | Sequence[str], delimiter: str | None = None,
                 header: bool = True, column_names: Sequence[str] | None = None,
                 compression: str | None = None, base_dir: str | None = None):
        super().__init__()
        patterns = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths or [])
        if not patterns or not all(isinstance(p, (str, os.PathLike)) for p in patterns):
            raise ValueError(f"Expected paths: a path or glob or a non-empty list of them. "
                             f"Received: paths={paths!r}")
        self.paths = [os.path.join(base_dir, os.fspath(p))
                      if base_dir and "://" not in os.fspath(p) else os.fspath(p)
                      for p in patterns]
        first = self.paths[0].lower()
        if delimiter is None:
            delimiter = "\t" if first.endswith((".tsv", ".tsv.gz")) else ","
        if not isinstance(delimiter, str) or len(delimiter) != 1:
            raise ValueError(f"Expected delimiter to be one character. "
                             f"Received: delimiter={delimiter!r}")
        self.delimiter = delimiter
        if not isinstance(header, bool):
            raise TypeError(f"Expected header to be True or False. Received: header={header!r}")
        self.header = header
        if header and column_names is not None:
            raise ValueError("Expected column_names only with header=False (the header "
                             f"names the columns). Received: column_names={column_names!r}")
        if not header and not column_names:
            raise ValueError("Expected column_names when header=False. "
                             f"Received: column_names={column_names!r}")
        self.column_names = None if column_names is None else [str(c) for c in column_names]
        if compression is None and first.endswith(".gz"):
            compression = "GZIP"
        if compression not in (None, "GZIP"):
            raise ValueError(f"Expected compression None or 'GZIP'. "
                             f"Received: compression={compression!r}")
        self.compression = compression
        self._files = None
        self._header_bytes = None

    @property
    def files(self) -> list[str]:
        """The files the patterns match, sorted (the globs are expanded once)."""
        if self._files is None:
            self._files = expand_paths(self.paths, what="paths")
        return self._files

    @property
    def num_parts(self) -> int:
        return len(self.files)

    def describe(self) -> str:
        shown = ", ".join(self.paths)
        n = len(self._files) if self._files is not None else None
        return f"CSV {shown}" + (f" ({n} files)" if n and n > 1 else "")

    def location(self, part: int, row: int) -> str:
        return f"{self.files[part]} line {row}"

    # ----------------------------------------------------------------- schema
    def _lines(self, path):
        """The decoded lines of a file (a UTF-8 byte-order mark dropped)."""
        with tf.io.gfile.GFile(path, "rb") as raw:
            stream = gzip.GzipFile(fileobj=raw) if self.compression == "GZIP" else raw
            first = True
            for line in iter(stream.readline, b""):
                text = line.decode("utf-8-sig" if first else "utf-8", "replace")
                first = False
                yield text

    def _header(self, path) -> list[str]:
        lines = self._lines(path)
        line = next(lines, "")
        lines.close()
        if not line.strip():
            raise ValueError(
                f"Expected a header line naming the columns in {path}. Received an empty "
                "file (or an empty first line): an empty source has no rows to read."
            )
        names = [n.strip() for n in next(csv.reader([line], delimiter=self.delimiter))]
        if any(not n for n in names):
            raise ValueError(f"Expected every header cell of {path} to name its column. "
                             f"Received: {names}")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"Expected unique column names in {path}. Received duplicates "
                             f"{dupes} in {names}")
        return names

    def _read_columns(self) -> dict[str, str]:
        if not self.header:
            for path in self.files:
                self._lines(path).close()  # fails here if unreadable
            return {c: "string" for c in self.column_names}
        names = None
        for path in self.files:
            got = self._header(path)
            if names is None:
                names, first = got, path
            elif got != names:
                missing = [c for c in names if c not in got]
                extra = [c for c in got if c not in names]
                detail = (f"missing {missing}, extra {extra}" if missing or extra
                          else "the same names in another order")
                raise ValueError(
                    "Expected every file of a source to have the same header. Received: "
                    f"{first}: {names}; {path}: {got} ({detail})."
                )
        return {c: "string" for c in names}

    # ------------------------------------------------------------------- rows
    def _layout(self, batch_size: int) -> tuple[list[int], list[int], int]:
        """`(sizes, header_bytes, block_bytes)`: how the files are read in blocks.

        Block size: `batch_size` lines of the first file's average length
        (from its first `_SAMPLE_BYTES`), so a block holds about a batch.
        """
        sizes = [tf.io.gfile.stat(path).length for path in self.files]
        if self._header_bytes is None:  # read once, like the header itself
            self._header_bytes = [_first_line_bytes(p) if self.header else 0 for p in self.files]
        heads = self._header_bytes
        with tf.io.gfile.GFile(self.files[0], "rb") as f:
            f.seek(heads[0])
            sample = f.read(_SAMPLE_BYTES)
        per_line = len(sample) / max(sample.count(b"\n"), 1)
        block = int(min(max(batch_size * per_line, _MIN_BLOCK), _MAX_BLOCK))
        return sizes, heads, block

    def _part_dataset(self, part, columns, batch_size, with_location):
        path = tf.gather(tf.constant(self.files), part)
        first = 2 if self.header else 1
        if self.compression:  # sizes of compressed files say nothing of their lines
            lines = tf.data.TextLineDataset(path, compression_type=self.compression)
            batches = (lines.skip(1) if self.header else lines).batch(batch_size)
        else:
            sizes, heads, block = self._layout(batch_size)
            batches = _block_lines(path, tf.gather(tf.constant(sizes, tf.int64), part),
                                   tf.gather(tf.constant(heads, tf.int64), part), block)
        return number_rows(batches, part, first) if with_location else batches

    def _to_batches(self, ds, columns, batch_size, shuffle_buffer, seed, with_location):
        ds = super()._to_batches(ds, columns, batch_size, shuffle_buffer, seed, with_location)
        names = list(self.columns())
        index = [names.index(c) for c in columns]
        defaults = [""] * len(names)

        def decode(lines, parts=None, rows=None):
            # Blank lines are rare: masked out only when a batch has one.
            blank = tf.strings.regex_full_match(lines, SPACES)  # nothing or only spaces
            located = (lines,) if parts is None else (lines, parts, rows)
            located = tf.cond(tf.reduce_any(blank),
                              lambda: tuple(tf.boolean_mask(t, ~blank) for t in located),
                              lambda: located)
            fields = tf.io.decode_csv(located[0], defaults, field_delim=self.delimiter)
            batch = {c: fields[i] for c, i in zip(columns, index)}
            if parts is not None:
                batch["__part__"], batch["__row__"] = located[1:]
            return batch

        return ds.map(tf.autograph.experimental.do_not_convert(lambda *e: decode(*e)),
                      num_parallel_calls=tf.data.AUTOTUNE)

    def explain_read_error(self, error: Exception) -> str:
        """Finds the first line whose field count differs from the header's."""
        width = len(self.columns())
        for path in self.files:
            lines = (line.rstrip("\r\n") for line in self._lines(path))
            rows = csv.reader(lines, delimiter=self.delimiter)
            start = 1
            if self.header:
                next(rows, None)
                start = 2
            for line, row in enumerate(rows, start=start):
                if row and len(row) != width:
                    return (f"Expected {width} fields on every line of {path} (its header "
                            f"has {width} columns). Received {len(row)} fields on line "
                            f"{line}: {row}")
        return f"Could not read {self.describe()}: {error}"

    def get_config(self) -> dict:
        return {"type": self.kind, "paths": list(self.paths), "delimiter": self.delimiter,
                "header": self.header, "column_names": self.column_names,
                "compression": self.compression}

    @classmethod
    def from_config(cls, config):
        config = {k: v for k, v in config.items() if k != "type"}
        return cls(**config)
