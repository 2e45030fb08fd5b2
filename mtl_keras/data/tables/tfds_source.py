"""A TensorFlow Datasets split as a table source (nothing is downloaded)."""

from __future__ import annotations

import tensorflow as tf

from mtl_keras.data.tables.sources import TableSource, number_rows


def _scalar_columns(features, prefix=""):
    """`{path: raw dtype}` of the scalar leaves; nested dicts joined with "/"."""
    import tensorflow_datasets as tfds

    columns = {}
    for key, feature in features.items():
        path = f"{prefix}{key}"
        if isinstance(feature, tfds.features.FeaturesDict):
            columns.update(_scalar_columns(feature, path + "/"))
            continue
        if tuple(feature.shape) != ():
            continue  # images, vectors, sequences: not table cells
        dtype = tf.as_dtype(feature.tf_dtype)
        if dtype == tf.string:
            columns[path] = "string"
        elif dtype.is_integer or dtype.is_floating or dtype.is_bool:
            columns[path] = "float64"
    return columns


def _get(example, path):
    value = example
    for part in path.split("/"):
        value = value[part]
    return value


class TfdsSource(TableSource):
    """The scalar features of a prepared TFDS split, as table columns.

    Nested features are named with "/" (`"features/age"`); non-scalar features
    (images, vectors) are not columns. Class labels (`ClassLabel`) are read as
    their integer ids. The split must already be prepared in `data_dir`
    (TFDS' default when None); nothing is downloaded.

    Args:
        name: A registered TFDS name (`"titanic"`, `"my_table:1.0.0"`).
        split: A TFDS split string, e.g. `"train"` or `"train[:80%]"`.
        data_dir: Where the prepared dataset lives.
    """

    kind = "tfds"

    def __init__(self, name: str, split: str = "train", data_dir: str | None = None):
        super().__init__()
        if not isinstance(name, str) or not name:
            raise ValueError(f"Expected name to be a TFDS dataset name. Received: name={name!r}")
        if not isinstance(split, str) or not split:
            raise ValueError(f"Expected split to be a TFDS split string. Received: split={split!r}")
        self.name, self.split, self.data_dir = name, split, data_dir
        self._builder = None

    @property
    def builder(self):
        import tensorflow_datasets as tfds

        if self._builder is None:
            try:
                self._builder = tfds.builder(self.name, data_dir=self.data_dir)
            except Exception as e:  # DatasetNotFoundError and friends
                raise ValueError(
                    "Expected the name of a TFDS dataset that is registered or prepared in "
                    f"data_dir. Received: name={self.name!r}, data_dir={self.data_dir!r} ({e})"
                ) from e
        return self._builder

    @property
    def num_parts(self) -> int:
        return 1

    def describe(self) -> str:
        where = f" in {self.data_dir}" if self.data_dir else ""
        return f"TFDS {self.name!r} split {self.split!r}{where}"

    def location(self, part: int, row: int) -> str:
        return f"{self.describe()} example index {row}"

    def _read_columns(self) -> dict[str, str]:
        return _scalar_columns(self.builder.info.features)

    def _part_dataset(self, part, columns, batch_size, with_location):
        dtypes = self.columns()
        ds = self.builder.as_dataset(split=self.split, shuffle_files=False)

        def to_row(example):
            row = {}
            for c in columns:
                value = _get(example, c)
                row[c] = value if dtypes[c] == "string" else tf.cast(value, tf.float64)
            return row

        ds = ds.map(tf.autograph.experimental.do_not_convert(to_row),
                    num_parallel_calls=tf.data.AUTOTUNE)
        if with_location:
            ds = number_rows(ds.batch(batch_size), part).map(
                lambda rows, parts, numbers: {**rows, "__part__": parts, "__row__": numbers})
        return ds

    def _to_batches(self, ds, columns, batch_size, shuffle_buffer, seed, with_location):
        if with_location:
            return ds
        if shuffle_buffer > 0:
            ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        return ds.batch(batch_size)

    def get_config(self) -> dict:
        return {"type": self.kind, "name": self.name, "split": self.split,
                "data_dir": self.data_dir}

    @classmethod
    def from_config(cls, config):
        return cls(**{k: v for k, v in config.items() if k != "type"})

