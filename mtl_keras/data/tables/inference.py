"""Resolution of a spec from data: feature types from a sample, state and task
kinds from the training split, and the checks that need the training classes.

Inference rules (each threshold is an option of `DataSpec`):

* a feature column is numeric when every non-missing cell of the sample is a
  number; then `integer_categorical` if all are whole numbers with at most
  `max_integer_categories` distinct values, else `float_normalized`;
  otherwise `string_categorical` with at most `max_categories` distinct
  values in the sample, else `string_hashed`;
* a target is a class target when every label of the training split is a
  whole number and there are at most `max_inferred_classes` distinct ones, or
  when any label is text; `binary` with two classes, `multiclass` with more.
  Otherwise it is a regression target.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

from mtl_keras.data.tables.feature_column import FeatureColumn
from mtl_keras.data.tables.scan import MAX_TEXT_CLASSES, ScanResult, invalid_number_error
from mtl_keras.data.tables.target_column import TargetColumn
from mtl_keras.data.tables.values import parse_numbers, to_text


def infer_feature_type(raw: np.ndarray, raw_dtype: str, na_values: Sequence[str],
                       max_categories: int, max_integer_categories: int) -> str:
    """The FeatureSpace type of a column from a sample of its raw cells."""
    if raw.size == 0:
        return "float_normalized" if raw_dtype == "float64" else "string_categorical"
    tensor = tf.constant(raw, tf.float64 if raw_dtype == "float64" else tf.string)
    numbers, invalid = (t.numpy() for t in parse_numbers(tensor, na_values))
    text = to_text(tensor, na_values).numpy()
    present = text != b""
    if not present.any():
        return "float_normalized" if raw_dtype == "float64" else "string_categorical"
    if not invalid.any():
        values = numbers[present]
        if np.all(values == np.round(values)) and np.unique(values).size <= max_integer_categories:
            return "integer_categorical"
        return "float_normalized"
    return ("string_categorical" if np.unique(text).size <= max_categories
            else "string_hashed")


def _decode(value, column):
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"Expected UTF-8 text in column {column!r}. Received the bytes "
                         f"{value[:40]!r}") from None


def resolve_features(features: Sequence[FeatureColumn], result: ScanResult,
                     hashing_dim: int) -> list[FeatureColumn]:
    """Fills in the state each feature lacks from the training statistics."""
    resolved = []
    rows = result.rows.get("train", 0)
    for f in features:
        changes = {}
        if f.reads == "number":
            stats = result.numbers[f.column]
            if stats.count == 0:
                raise ValueError(f"Expected values in feature column {f.column!r}. Received no "
                                 f"number in the {rows} rows of the training split.")
            if f.fill_value is None:
                changes["fill_value"] = stats.mean
            if f.type == "float_normalized" and (f.mean is None or f.variance is None):
                changes.update(mean=stats.mean, variance=stats.variance)
        elif f.type.endswith("categorical") and f.vocabulary is None:
            counts = result.counts[f.column]
            if not len(counts):
                raise ValueError(f"Expected values in feature column {f.column!r}. Received "
                                 f"none in the {rows} rows of the training split.")
            limit = None if f.max_tokens is None else f.max_tokens - f.num_oov_indices
            vocabulary = counts.most_common(limit)
            if f.reads == "text":
                vocabulary = [_decode(v, f.column) for v in vocabulary]
            changes["vocabulary"] = [v if isinstance(v, str) else int(v) for v in vocabulary]
        elif f.type.endswith("hashed") and f.num_bins is None:
            changes["num_bins"] = hashing_dim
        resolved.append(f.replace(**changes) if changes else f)
    return resolved


def _labels(texts, as_numbers: bool, column: str) -> list:
    values = [_decode(v, column) for v in texts]
    if as_numbers:
        return sorted({int(float(v)) for v in values})
    return sorted(set(values))


def resolve_targets(targets: Sequence[TargetColumn], result: ScanResult, invalid_values: str,
                    max_inferred_classes: int) -> list[TargetColumn]:
    """Fills in each target's kind and classes from the training labels."""
    resolved = []
    rows = result.rows.get("train", 0)
    for t in targets:
        role = f"target of task {t.task!r}"
        if result.target_present["train"][t.column] == 0:
            raise ValueError(f"Expected labels in target column {t.column!r} ({role}). Received "
                             f"no non-empty value in the {rows} rows of the training split.")
        numbers, texts = result.target_numbers[t.column], result.target_texts[t.column]
        invalid = result.target_invalid.get("train", {}).get(t.column)
        all_numbers = invalid is None
        kind = t.kind
        if kind is None:
            few = numbers.whole and not numbers.too_many
            kind = "regression" if all_numbers and not few else "classification"
        if kind == "regression":
            if not all_numbers and invalid_values == "error":
                raise invalid_number_error(t.column, f"regression {role}", *invalid)
            resolved.append(t.replace(kind="regression") if t.kind is None else t)
            continue
        if texts.too_many:
            raise ValueError(
                f"Expected at most {MAX_TEXT_CLASSES} classes in target column {t.column!r} "
                f"({role}). Received more distinct labels in the training split: declare "
                "`kind: regression` if it is a quantity."
            )
        as_numbers = all_numbers and numbers.whole
        seen = _labels(texts.counts, as_numbers, t.column)
        classes = t.classes
        if classes is None:
            classes = seen
        else:
            canon = set(classes) if isinstance(classes[0], str) else set(classes)
            unknown = [v for v in seen if (str(v) if isinstance(classes[0], str) else v)
                       not in canon]
            if unknown:
                raise ValueError(
                    f"Expected the training labels of target column {t.column!r} ({role}) "
                    f"among its declared classes {classes}. Received: {unknown[:10]}"
                )
        if len(classes) < 2:
            raise ValueError(
                f"Expected at least 2 classes in target column {t.column!r} ({role}). "
                f"Received only {classes} in the training split."
            )
        if t.kind == "binary" and len(classes) != 2:
            raise ValueError(
                f"Expected 2 classes in binary target column {t.column!r} ({role}). Received "
                f"{len(classes)}: {classes[:20]} (declare `kind: multiclass`)."
            )
        kind = t.kind or ("binary" if len(classes) == 2 else "multiclass")
        resolved.append(t.replace(kind=kind, classes=classes))
    return resolved


def check_evaluation_labels(targets: Sequence[TargetColumn], result: ScanResult,
                            invalid_values: str) -> None:
    """Raises for a validation/test class label that training does not have, or an
    unparseable regression label."""
    for split, by_column in result.target_invalid.items():
        if split == "train":
            continue
        for t in targets:
            if t.kind == "regression" and t.column in by_column and invalid_values == "error":
                raise invalid_number_error(t.column, f"regression target of task {t.task!r}, "
                                           f"{split} split", *by_column[t.column])
    for split, by_column in result.target_seen.items():
        for t in targets:
            if t.kind == "regression" or t.column not in by_column:
                continue
            where = by_column[t.column].where
            numeric = not isinstance(t.classes[0], str)
            for raw, location in where.items():
                text = _decode(raw, t.column)
                try:
                    value = int(float(text)) if numeric else text
                    known = value in t.classes and (not numeric or float(text).is_integer())
                except ValueError:
                    known = False
                if not known:
                    raise ValueError(
                        f"Expected the {split} labels of target column {t.column!r} (task "
                        f"{t.task!r}) among the classes of the training split {t.classes}. "
                        f"Received {text!r} at {location}, which no training row has. Add it to "
                        "the target's `classes` in the spec, or remove those rows."
                    )
