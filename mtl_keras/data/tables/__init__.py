"""Users' own tables: a data spec, streaming sources, features and tasks from columns.

`DataSpec` (a run config's `data:` section, or built in Python) names the
sources of a table and which columns are features and targets; `load()`
resolves it on the data in one pass and returns a `TableData` whose
`dataset()` streams `(features, {task: label})` batches, whose `tasks` are
`mtl_keras.Task`s and whose `inputs()` / `preprocessing()` build a model that
takes raw column values through `keras.utils.FeatureSpace`. See
docs/own_data.md.
"""

from mtl_keras.data.tables.csv_source import CsvSource
from mtl_keras.data.tables.data_spec import SPEC_FILENAME, DataSpec
from mtl_keras.data.tables.dataframe_source import DataFrameSource
from mtl_keras.data.tables.feature_column import (
    FEATURE_TYPES,
    FeatureColumn,
    FeatureCross,
    build_feature_space,
)
from mtl_keras.data.tables.hash_split import HashSplit
from mtl_keras.data.tables.parquet_source import ParquetSource
from mtl_keras.data.tables.row_shuffle import shuffle_rows
from mtl_keras.data.tables.sources import TableSource, source_from_config
from mtl_keras.data.tables.table_data import TableData
from mtl_keras.data.tables.target_column import TARGET_KINDS, TargetColumn
from mtl_keras.data.tables.tfds_source import TfdsSource
from mtl_keras.data.tables.tfrecord_source import TFRecordSource

__all__ = [
    "FEATURE_TYPES",
    "SPEC_FILENAME",
    "TARGET_KINDS",
    "CsvSource",
    "DataFrameSource",
    "DataSpec",
    "FeatureColumn",
    "FeatureCross",
    "HashSplit",
    "ParquetSource",
    "TFRecordSource",
    "TableData",
    "TableSource",
    "TargetColumn",
    "TfdsSource",
    "build_feature_space",
    "shuffle_rows",
    "source_from_config",
]
