"""`DataSpec.load`: from a spec and its sources to a resolved spec and a `TableData`.

The order is the order of the errors a user meets, each before any training:

1. every source: files match, headers agree; every column the spec names is
   in every source (the message lists the table's columns);
2. feature types not given: inferred from the first `sample_rows` rows of
   the training split;
3. one pass per source (`scan`): training statistics, unparseable numbers
   and empty keys stop the pass with their place;
4. empty splits, targets without labels, then each feature's state and each
   target's kind and classes; evaluation labels not seen in training.
"""

from __future__ import annotations

from mtl_keras.data.tables.feature_column import FeatureColumn
from mtl_keras.data.tables.inference import (
    check_evaluation_labels,
    infer_feature_type,
    resolve_features,
    resolve_targets,
)
from mtl_keras.data.tables.names import check_inputs_and_tasks, check_unique
from mtl_keras.data.tables.scan import read_sample, scan


def _features(spec, train_columns):
    if spec.features is not None:
        return list(spec.features)
    skip = {t.column for t in spec.targets} | set(spec.exclude)
    if spec.split is not None:
        skip.add(spec.split.key)
    features = [FeatureColumn(c) for c in train_columns if c not in skip]
    if not features:
        raise ValueError(
            "Expected at least one feature column: every column of the training source is a "
            f"target, the split key or excluded. Received columns {list(train_columns)}."
        )
    check_unique({f.column: f.input for f in features}, "input")
    check_inputs_and_tasks({f.column: f.input for f in features},
                           {t.column: t.task for t in spec.targets})
    names = [f.column for f in features]
    for cross in spec.crosses:
        unknown = [c for c in cross.columns if c not in names]
        if unknown:
            raise ValueError(f"Expected crosses of feature columns {names}. Received "
                             f"{unknown} in cross {cross.columns}")
    return features


def _check_crosses(spec, features):
    by_column = {f.column: f for f in features}
    for cross in spec.crosses:
        numeric = [c for c in cross.columns if by_column[c].reads == "number"]
        if numeric:
            raise ValueError(
                "Expected crosses of categorical or hashed feature columns. Received numeric "
                f"feature(s) {numeric} in cross {cross.columns}: declare them categorical."
            )


def _check_rows(reads, rows):
    for read in reads:
        counts = {s: rows.get(s, 0) for s in read.splits}
        if sum(counts.values()) == 0:
            raise ValueError(f"Expected rows in {read.source.describe()}. Received none: the "
                             "source is empty.")
        for split, n in counts.items():
            if n == 0:
                raise ValueError(
                    f"Expected rows in {read.describe(split)}. Received none of the "
                    f"{sum(counts.values())} rows of the source: give the split a larger "
                    "fraction or more rows."
                )


def resolve(spec, check: bool = True):
    """Resolves `spec` on its sources; returns a `TableData`. See the module docstring."""
    from mtl_keras.data.tables.table_data import TableData

    if not check and spec.is_resolved:
        return TableData(spec)  # nothing to infer: no file is opened
    reads = spec.reads()
    train_read = reads[0]
    features = _features(spec, train_read.source.columns())
    roles = {f.column: "feature" for f in features}
    roles.update({t.column: f"target of task {t.task!r}" for t in spec.targets})
    if spec.split is not None:
        roles[spec.split.key] = "split key"
    for read in reads:
        read.source.require(list(roles), roles)

    untyped = [f.column for f in features if f.type is None]
    if untyped:
        sample = read_sample(train_read, untyped, spec.sample_rows, spec.na_values)
        raw_dtypes = train_read.source.columns()
        features = [f.replace(type=infer_feature_type(
            sample[f.column], raw_dtypes[f.column], spec.na_values, spec.max_categories,
            spec.max_integer_categories)) if f.type is None else f for f in features]
    _check_crosses(spec, features)

    partial = spec.replace(features=features)
    if not check and partial.is_resolved:
        return TableData(partial)
    result = scan(reads, features, spec.targets, spec.na_values, spec.invalid_values,
                  spec.max_inferred_classes)
    _check_rows(reads, result.rows)
    features = resolve_features(features, result, spec.hashing_dim)
    targets = resolve_targets(spec.targets, result, spec.invalid_values,
                              spec.max_inferred_classes)
    check_evaluation_labels(targets, result, spec.invalid_values)
    return TableData(spec.replace(features=features, targets=targets, rows=result.rows))
