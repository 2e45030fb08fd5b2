"""GCS: auxiliary gradients kept, dropped or scaled by their cosine, computed by hand."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_keras as mtl
from mtl_keras.weighting.gcs import GCS, gcs

AUX = [False, True, True]
# main g0 = (1, 0); g1 = (1, 1): cos 1/sqrt(2) > 0, kept; g2 = (-1, 1): cos -1/sqrt(2), dropped.
GRADS = [[1.0, 0.0], [1.0, 1.0], [-1.0, 1.0]]
C = 1 / np.sqrt(2.0)


@pytest.mark.parametrize("weighted,weights,direction", [
    (False, [1.0, 1.0, 0.0], [2.0, 1.0]),          # g0 + g1
    (True, [1.0, C, 0.0], [1.0 + C, C]),           # g0 + cos * g1
])
def test_one_main_task(weighted, weights, direction):
    d, w = gcs(GRADS, AUX, weighted=weighted)
    np.testing.assert_allclose(np.asarray(w), weights, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(d), direction, rtol=1e-6)


def test_main_gradient_is_the_sum_of_the_main_tasks():
    # g_main = (1, 0) + (0, 1) = (1, 1). Aux (1, -0.5): g_main . g = 0.5 > 0, kept, although it
    # conflicts with the second main task alone; cos = 0.5 / (sqrt(2) sqrt(1.25)) = 1 / sqrt(10).
    # Aux (1, -1): orthogonal (cos 0 is not > 0), dropped. Aux (-1, 0.5): cos < 0, dropped.
    grads = [[1.0, 0.0], [0.0, 1.0], [1.0, -0.5], [1.0, -1.0], [-1.0, 0.5]]
    aux = [False, False, True, True, True]
    d, w = gcs(grads, aux)
    np.testing.assert_allclose(np.asarray(w), [1, 1, 1, 0, 0], atol=1e-7)
    np.testing.assert_allclose(np.asarray(d), [2.0, 0.5], rtol=1e-6)
    _, w = gcs(grads, aux, weighted=True)
    np.testing.assert_allclose(np.asarray(w), [1, 1, 1 / np.sqrt(10.0), 0, 0], rtol=1e-6)


def test_absent_tasks():
    grads = [[1.0, 0.0], [0.0, 1.0], [-0.2, 1.0]]
    aux = [False, False, True]
    # Both main tasks present: g_main = (1, 1), g_main . g_aux = 0.8 > 0: kept.
    np.testing.assert_allclose(np.asarray(gcs(grads, aux)[1]), [1, 1, 1])
    # The second main task has no label: g_main = (1, 0), g_main . g_aux = -0.2: dropped.
    d, w = gcs(grads, aux, present=[1.0, 0.0, 1.0])
    np.testing.assert_allclose(np.asarray(w), [1, 0, 0])
    np.testing.assert_allclose(np.asarray(d), [1.0, 0.0])
    # No main task present: no cosine is positive, nothing is used.
    d, w = gcs(grads, aux, present=[0.0, 0.0, 1.0])
    np.testing.assert_array_equal(np.asarray(w), [0, 0, 0])
    np.testing.assert_array_equal(np.asarray(d), [0, 0])
    # An absent auxiliary task gets weight 0 whatever its row holds.
    d, w = gcs([[1.0, 0.0], [np.nan, 1.0]], [False, True], present=[1.0, 0.0])
    np.testing.assert_array_equal(np.asarray(w), [1, 0])
    np.testing.assert_array_equal(np.asarray(d), [1, 0])


@pytest.mark.parametrize("weighted", [False, True])
def test_scale_equivariant_without_epsilon(weighted):
    d, w = gcs(GRADS, AUX, weighted=weighted)
    for exponent in (-100, -60, 40):
        scale = 2.0 ** exponent
        ds, ws = gcs(np.asarray(GRADS, "float32") * np.float32(scale), AUX, weighted=weighted)
        np.testing.assert_array_equal(np.asarray(ws), np.asarray(w))
        np.testing.assert_array_equal(np.asarray(ds), np.asarray(d) * np.float32(scale))
    # Not a power of two: the same gates, the direction to float32 rounding.
    ds, ws = gcs(np.asarray(GRADS, "float32") * np.float32(1e-8), AUX, weighted=weighted)
    np.testing.assert_allclose(np.asarray(ws), np.asarray(w), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ds), np.asarray(d) * 1e-8, rtol=1e-6)


def test_bad_input():
    with pytest.raises(ValueError, match="at least one auxiliary task and at least one main"):
        gcs(GRADS, [False, False, False])
    with pytest.raises(ValueError, match="at least one auxiliary task and at least one main"):
        gcs(GRADS, [True, True, True])
    with pytest.raises(ValueError, match=r"Expected auxiliary to have shape \(3,\)"):
        gcs(GRADS, [False, True])
    with pytest.raises(ValueError, match="Expected finite gradients for gcs"):
        gcs([[1.0, 0.0], [np.inf, 1.0]], [False, True])
    with pytest.raises(TypeError, match="Expected weighted to be True or False"):
        GCS(weighted="yes")


def test_inside_a_graph():
    fn = tf.function(lambda g, p: gcs(g, AUX, p, weighted=True), jit_compile=True)
    d, w = fn(tf.constant(GRADS), tf.ones(3))
    np.testing.assert_allclose(np.asarray(w), [1.0, C, 0.0], rtol=1e-6)


def _tasks(auxiliary=True):
    return [mtl.Task("target", "regression"),
            mtl.Task("helper", "binary", auxiliary=auxiliary),
            mtl.Task("noise", "regression", auxiliary=auxiliary)]


def test_strategy_reads_the_auxiliary_flags_and_config_round_trips():
    strategy = GCS(mode="representation", weighted=True)
    strategy.build_for_tasks(_tasks())
    d, w = strategy.combine_gradients(tf.constant(GRADS), tf.ones(3))
    np.testing.assert_allclose(np.asarray(w), [1.0, C, 0.0], rtol=1e-6)
    clone = GCS.from_config(strategy.get_config())
    assert (clone.mode, clone.weighted) == ("representation", True)
    assert type(mtl.weighting.get("gcs")) is GCS and not mtl.weighting.get("gcs").weighted
    assert mtl.weighting.get("gcs_weighted").weighted
    restored = mtl.weighting.get(keras.saving.serialize_keras_object(strategy))
    assert restored.get_config() == strategy.get_config()


def test_compile_refuses_a_model_without_auxiliary_tasks():
    model = mtl.build_hard_sharing(keras.Input((3,)), mtl.backbones.mlp([4]),
                                   _tasks(auxiliary=False))
    expected = (r"GCS weighs auxiliary tasks.*Expected at least one task marked "
                r"`Task\(..., auxiliary=True\)`.*none auxiliary")
    with pytest.raises(ValueError, match=expected):
        model.compile(optimizer="sgd", weighting="gcs")


def _data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype("float32")
    y = {"target": (x[:, 0] + x[:, 1]).astype("float32"),
         "helper": (x[:, 0] > 0).astype("float32"),
         "noise": rng.normal(size=n).astype("float32")}
    y["target"][16:32] = np.nan       # the second batch of 16 has no main label at all
    y["helper"][::5] = -1              # scattered missing auxiliary labels
    return x, y


@pytest.mark.parametrize("mode,weighted", [("parameters", False), ("representation", True)])
def test_trains_with_missing_labels_on_tf_data_and_round_trips(mode, weighted, tmp_path):
    x, y = _data()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    model = mtl.build_hard_sharing(keras.Input((3,)), mtl.backbones.mlp([8]), _tasks())
    model.compile(optimizer=keras.optimizers.Adam(0.02), weighting=GCS(mode, weighted))
    history = model.fit(ds, epochs=3, verbose=0).history
    # The main task has weight 1 in the three batches with its labels, 0 in the other.
    np.testing.assert_allclose(history["target_weight"], [0.75] * 3)
    for name in ("helper", "noise"):
        assert all(0.0 <= v <= 0.75 for v in history[f"{name}_weight"]), history
    assert history["target_loss"][-1] < history["target_loss"][0]
    path = str(tmp_path / "gcs.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.weighting.get_config() == model.weighting.get_config()
    np.testing.assert_allclose(loaded.predict(x[:4], verbose=0)["target"],
                               model.predict(x[:4], verbose=0)["target"], rtol=1e-6)
