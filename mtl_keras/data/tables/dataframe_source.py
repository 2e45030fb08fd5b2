"""A pandas DataFrame (from Python) as a table source."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import tensorflow as tf

from mtl_keras.data.tables.sources import TableSource


def _is_numeric(series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(series.dtype)
                or pd.api.types.is_bool_dtype(series.dtype))


def _to_numpy(series, raw_dtype: str) -> np.ndarray:
    if raw_dtype == "float64":
        return series.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
    missing = series.isna().to_numpy()
    values = series.astype(object).to_numpy()
    return np.array(["" if m else str(v) for v, m in zip(values, missing)], dtype=object)


class DataFrameSource(TableSource):
    """The rows of a `pandas.DataFrame`: numeric and boolean columns as numbers
    (NA is NaN), every other column as text (NA is `""`).

    The frame is already in memory; its columns are sliced by `tf.data`. A
    saved spec records only the column names and types of a DataFrame source
    (`{"type": "dataframe", "columns": {...}}`): such a spec can describe the
    features and tasks (for prediction, export) but reading it needs the frame
    again.

    Args:
        frame: A `pandas.DataFrame` with string column names.
        columns: Only for a spec read back from JSON (no frame): the recorded
            `{column: raw dtype}`.

    Example:

    >>> import pandas as pd
    >>> from mtl_keras.data.tables import DataFrameSource
    >>> source = DataFrameSource(pd.DataFrame({"x": [1.0, None], "c": ["a", None]}))
    >>> source.columns()
    {'x': 'float64', 'c': 'string'}
    >>> batch = next(iter(source.raw_dataset(["x", "c"], batch_size=2)))
    >>> batch["c"].numpy().tolist()
    [b'a', b'']
    """

    kind = "dataframe"

    def __init__(self, frame: Any = None, columns: Mapping[str, str] | None = None):
        super().__init__()
        if frame is None and columns is None:
            raise ValueError("Expected a pandas DataFrame. Received: frame=None")
        if frame is not None:
            if type(frame).__name__ != "DataFrame" or not hasattr(frame, "columns"):
                raise TypeError("Expected a pandas DataFrame. "
                                f"Received: frame of type {type(frame).__name__}")
            bad = [c for c in frame.columns if not isinstance(c, str)]
            if bad:
                raise ValueError("Expected string column names (rename with "
                                 f"`frame.rename(columns=str)`). Received: {bad}")
        self.frame = frame
        self._recorded = None if columns is None else dict(columns)

    @property
    def num_parts(self) -> int:
        return 1

    def describe(self) -> str:
        if self.frame is None:
            return "a DataFrame (not given: this spec was read back from JSON)"
        return f"a DataFrame of {len(self.frame)} rows"

    def location(self, part: int, row: int) -> str:
        return f"DataFrame row {row} (index {self.frame.index[row]!r})"

    def _read_columns(self) -> dict[str, str]:
        if self.frame is None:
            return dict(self._recorded)
        return {c: "float64" if _is_numeric(self.frame[c]) else "string"
                for c in self.frame.columns}

    def _part_dataset(self, part, columns, batch_size, with_location):
        if self.frame is None:
            raise ValueError(
                "Expected a pandas DataFrame to read: a DataFrame source read back from "
                "JSON records only its columns. Pass the frame (e.g. "
                "`spec.with_sources(train=frame)`)."
            )
        dtypes = self.columns()
        data = {c: _to_numpy(self.frame[c], dtypes[c]) for c in columns}
        if with_location:
            n = len(self.frame)
            data["__part__"] = np.zeros(n, np.int32)
            data["__row__"] = np.arange(n, dtype=np.int64)
        return tf.data.Dataset.from_tensor_slices(data)

    def _to_batches(self, ds, columns, batch_size, shuffle_buffer, seed, with_location):
        if shuffle_buffer > 0:
            ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        return ds.batch(batch_size)

    def get_config(self) -> dict:
        return {"type": self.kind, "columns": self.columns()}

    @classmethod
    def from_config(cls, config):
        return cls(columns=config.get("columns"))
