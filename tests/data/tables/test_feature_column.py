"""Feature columns: validation, config round trip, and their FeatureSpace encodings."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtl_keras.data.tables import FeatureColumn, FeatureCross, build_feature_space
from mtl_keras.data.tables.values import DEFAULT_NA_VALUES


def _columns():
    return [FeatureColumn("size", "float_normalized", mean=2.0, variance=4.0, fill_value=2.0),
            FeatureColumn("City name", "string_categorical", vocabulary=["Oslo", "Rome"]),
            FeatureColumn("rooms", "integer_categorical", vocabulary=[3, 1]),
            FeatureColumn("tag", "string_hashed", num_bins=4)]


def test_convert_reads_raw_cells_and_fills_missing():
    size, city, rooms, _ = _columns()
    np.testing.assert_array_equal(
        size.convert(tf.constant(["4", "", "NA"]), DEFAULT_NA_VALUES).numpy(), [[4.0], [2.0], [2.0]])
    assert city.convert(tf.constant([" Rome", "NA"]), DEFAULT_NA_VALUES).numpy().tolist() == \
        [[b"Rome"], [b""]]
    # Missing and fractional integers become -1, the IntegerLookup OOV token.
    assert rooms.convert(tf.constant([3.0, np.nan, 2.5], tf.float64), ()).numpy().tolist() == \
        [[3], [-1], [-1]]


def test_feature_space_encodings_by_hand():
    space = build_feature_space(_columns(), output_mode="dict")
    out = space({"size": tf.constant([[4.0], [0.0]]),
                 "City_name": tf.constant([["Rome"], ["Paris"]]),
                 "rooms": tf.constant([[1], [-1]], tf.int64),
                 "tag": tf.constant([["a"], ["a"]])})
    # (4 - 2) / sqrt(4) = 1; (0 - 2) / 2 = -1.
    np.testing.assert_allclose(out["size"].numpy(), [[1.0], [-1.0]])
    # Index 0 is the OOV slot: Oslo 1, Rome 2; Paris unseen -> 0.
    np.testing.assert_array_equal(out["City_name"].numpy(), [[0, 0, 1], [1, 0, 0]])
    # Vocabulary [3, 1]: 1 -> index 2; -1 (missing) -> OOV 0.
    np.testing.assert_array_equal(out["rooms"].numpy(), [[0, 0, 1], [1, 0, 0]])
    tag = out["tag"].numpy()
    assert tag.shape == (2, 4) and tag.sum() == 2 and np.array_equal(tag[0], tag[1])


def test_concat_encoder_with_a_cross_saves_and_reloads(tmp_path):
    space = build_feature_space(_columns(), [FeatureCross(["City name", "rooms"], 8)])
    inputs = space.get_inputs()
    assert sorted(inputs) == ["City_name", "rooms", "size", "tag"]
    encoded = space.get_encoded_features()
    assert encoded.shape == (None, 3 + 3 + 1 + 4 + 8)
    model = keras.Model(inputs, keras.layers.Dense(2)(encoded))
    path = str(tmp_path / "m.keras")
    model.save(path)
    again = keras.saving.load_model(path, safe_mode=True)
    x = {"City_name": tf.constant([["Oslo"]]), "rooms": tf.constant([[3]], tf.int64),
         "size": tf.constant([[4.0]]), "tag": tf.constant([["z"]])}
    np.testing.assert_allclose(model(x).numpy(), again(x).numpy(), rtol=1e-6)


def test_resolution_state_and_round_trip():
    assert not FeatureColumn("x").is_resolved
    assert not FeatureColumn("x", "float_normalized", mean=1.0).is_resolved
    assert FeatureColumn("x", "float", fill_value=0.0).is_resolved
    assert not FeatureColumn("h", "string_hashed").is_resolved
    for f in _columns():
        again = FeatureColumn.from_config(f.get_config())
        assert again.get_config() == f.get_config() and again.is_resolved
    assert _columns()[1].get_config() == {"column": "City name", "type": "string_categorical",
                                          "input": "City_name", "vocabulary": ["Oslo", "Rome"]}


def test_argument_errors():
    with pytest.raises(ValueError, match=r"type among \['float', 'float_normalized'"):
        FeatureColumn("x", "numeric")
    with pytest.raises(ValueError, match="input name of letters"):
        FeatureColumn("x", input="my input")
    with pytest.raises(ValueError, match="num_bins to be an int >= 1"):
        FeatureColumn("x", "string_hashed", num_bins=0)
    with pytest.raises(ValueError, match="max_tokens > num_oov_indices"):
        FeatureColumn("x", "string_categorical", max_tokens=2, num_oov_indices=2)
    with pytest.raises(ValueError, match="vocabulary only for a categorical type"):
        FeatureColumn("x", "float", vocabulary=["a"])
    with pytest.raises(ValueError, match="vocabulary only for a categorical type"):
        FeatureColumn("x", "integer_categorical", vocabulary=["a"])
    with pytest.raises(ValueError, match="-1 marks a missing"):
        FeatureColumn("x", "integer_categorical", vocabulary=[-1, 2])
    with pytest.raises(ValueError, match="finite number"):
        FeatureColumn("x", "float_normalized", mean=float("nan"))
    with pytest.raises(ValueError, match="two or more different feature columns"):
        FeatureCross(["a"])
    with pytest.raises(ValueError, match="not resolved yet"):
        FeatureColumn("x", "string_categorical").feature()


def test_crosses_of_numeric_features_are_refused():
    with pytest.raises(ValueError, match=r"Received: 'size' in cross \['size', 'rooms'\] is a "
                                         r"float_normalized feature"):
        build_feature_space(_columns(), [FeatureCross(["size", "rooms"])])
