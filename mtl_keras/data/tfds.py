"""TFDS adapter: a TensorFlow Datasets split as `(features, {task: label})`.

TensorFlow Datasets yields dicts of named features. `tfds_dataset` picks the
features that are model inputs and the ones that are task labels, checks the
names against the builder's `info.features` before reading any data, and
returns the pipeline `MultiTaskModel.fit` (or `TaskSampler`) takes.

Nothing is downloaded: the split must already be prepared in `data_dir`
(TFDS' default `~/tensorflow_datasets` when not given), e.g. written with
`tfds.dataset_builders.store_as_tfds_dataset`, or mocked in tests with
`tfds.testing.mock_data`.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import tensorflow as tf

from mtl_keras.tasks import Task


def _feature_paths(features, prefix="") -> list[str]:
    """Names of the leaf features, nested dicts joined with "/"."""
    import tensorflow_datasets as tfds

    paths = []
    for key, feature in features.items():
        path = f"{prefix}{key}"
        if isinstance(feature, tfds.features.FeaturesDict):
            paths.extend(_feature_paths(feature, path + "/"))
        else:
            paths.append(path)
    return paths


def _get(example, path):
    value = example
    for part in path.split("/"):
        value = value[part]
    return value


def _resolve_builder(source, data_dir):
    import tensorflow_datasets as tfds

    if isinstance(source, tfds.core.DatasetBuilder):
        return source, None
    if isinstance(source, str) and source:
        try:
            return tfds.builder(source, data_dir=data_dir), source
        except Exception as e:  # DatasetNotFoundError and friends
            raise ValueError(
                "Expected the name of a TFDS dataset that is registered or prepared "
                f"in data_dir. Received: source={source!r}, data_dir={data_dir!r} ({e})"
            ) from e
    raise TypeError(
        "Expected a TFDS dataset name or a `tfds.core.DatasetBuilder`. "
        f"Received: source={source!r}"
    )


def tfds_dataset(
    source: Any,
    label_keys: Mapping[str, str],
    feature_keys: str | Sequence[str] | Mapping[str, str] | None = None,
    split: str = "train",
    data_dir: str | None = None,
    tasks: Sequence[Task] | None = None,
    map_features: Callable[[Any], Any] | None = None,
    batch_size: int | None = None,
    shuffle_files: bool = False,
) -> tf.data.Dataset:
    """Reads a TFDS split as `(features, {task_name: label})`.

    Args:
        source: A TFDS dataset name (`"mnist"`, `"my_data:1.0.0"`) or a
            `tfds.core.DatasetBuilder`.
        label_keys: `{task_name: feature_key}`: which TFDS feature holds each
            task's label. Nested features are named with "/" (`"labels/age"`).
        feature_keys: The model inputs: one key (the features are then that
            tensor), a list of keys (a dict keyed by them), or
            `{input_name: feature_key}`. Default: every feature that is not a
            label, as a dict.
        split: The split to read (any TFDS split string, e.g. `"train[:80%]"`).
        data_dir: Where the prepared dataset lives (TFDS' default when None).
        tasks: Optional `mtl_keras.Task` list: then every task must have a label
            key, and each label's shape and dtype are checked against its task.
        map_features: Optional function applied to the features (e.g. to cast
            images to float32 in [0, 1]).
        batch_size: Batch the examples (default: unbatched, e.g. for
            `TaskSampler`).
        shuffle_files: Passed to TFDS.

    Returns:
        A `tf.data.Dataset` of `(features, {task_name: label})`.

    Raises:
        ValueError: A key that names no feature of the dataset (the message
            lists the features), a feature used both as input and label, tasks
            without a label key, or labels that do not fit their task.

    Example:

    >>> import numpy as np, tensorflow_datasets as tfds, mtl_keras as mtl
    >>> with tfds.testing.mock_data(num_examples=4):
    ...     ds = mtl.data.tfds_dataset("mnist", {"digit": "label"}, "image")
    ...     x, y = next(iter(ds))
    >>> x.shape, sorted(y)
    (TensorShape([28, 28, 1]), ['digit'])
    """
    import tensorflow_datasets as tfds

    builder, name = _resolve_builder(source, data_dir)
    available = _feature_paths(builder.info.features)
    if not isinstance(label_keys, Mapping) or not label_keys:
        raise ValueError(
            "Expected label_keys to be a non-empty dict {task_name: feature_key}. "
            f"Received: label_keys={label_keys!r}"
        )
    unknown = {t: k for t, k in label_keys.items() if k not in available}
    if unknown:
        raise ValueError(
            f"Expected label_keys to name features of {builder.info.name!r}, among "
            f"{available}. Received unknown features: {unknown}"
        )
    used_as_labels = set(label_keys.values())
    if feature_keys is None:
        inputs = {k: k for k in available if k not in used_as_labels}
        if not inputs:
            raise ValueError(
                "Every feature is used as a label: expected at least one input feature. "
                f"Received: label_keys={dict(label_keys)}, features {available}"
            )
    elif isinstance(feature_keys, str):
        inputs = feature_keys
    elif isinstance(feature_keys, Mapping):
        inputs = dict(feature_keys)
    else:
        inputs = {k: k for k in feature_keys}
    input_keys = [inputs] if isinstance(inputs, str) else list(inputs.values())
    missing = [k for k in input_keys if k not in available]
    if missing:
        raise ValueError(
            f"Expected feature_keys to name features of {builder.info.name!r}, among "
            f"{available}. Received unknown features: {missing}"
        )
    overlap = sorted(used_as_labels & set(input_keys))
    if overlap:
        raise ValueError(
            "Expected inputs and labels to be different features. Received features "
            f"used as both: {overlap}"
        )
    if tasks is not None:
        _check_tasks(tasks, label_keys, builder)

    if name is not None:
        ds = tfds.load(name, split=split, data_dir=data_dir, download=False,
                       shuffle_files=shuffle_files)
    else:
        ds = builder.as_dataset(split=split, shuffle_files=shuffle_files)

    def to_task_example(example):
        if isinstance(inputs, str):
            features = _get(example, inputs)
        else:
            features = {k: _get(example, v) for k, v in inputs.items()}
        if map_features is not None:
            features = map_features(features)
        labels = {task: _get(example, key) for task, key in label_keys.items()}
        return features, labels

    ds = ds.map(to_task_example, num_parallel_calls=tf.data.AUTOTUNE)
    if batch_size is not None:
        ds = ds.batch(batch_size)
    return ds


def _check_tasks(tasks, label_keys, builder):
    names = [t.label_key for t in tasks]
    missing = [n for n in names if n not in label_keys]
    extra = sorted(set(label_keys) - set(names))
    if missing or extra:
        raise ValueError(
            f"Expected a label feature for every task {names}. Received: "
            f"label_keys={dict(label_keys)} (missing {missing}, unknown {extra})"
        )
    flat = {}

    def collect(features, prefix=""):
        import tensorflow_datasets as tfds

        for key, feature in features.items():
            if isinstance(feature, tfds.features.FeaturesDict):
                collect(feature, f"{prefix}{key}/")
            else:
                flat[f"{prefix}{key}"] = feature

    collect(builder.info.features)
    for task in tasks:
        feature = flat[label_keys[task.label_key]]
        task.check_label_spec((None,) + tuple(feature.shape), tf.as_dtype(feature.dtype).name)
