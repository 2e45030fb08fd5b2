"""OL-AUX: the combined direction and the online weight update, computed by hand."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_keras as mtl
from mtl_keras.weighting.ol_aux import OLAux, ol_aux

AUX = [False, True, True]


def test_direction_and_alignment():
    # g_main = (1, 0); g1 = (2, 1): g_main . g1 = 2; g2 = (-1, 3): g_main . g2 = -1.
    d, w, a = ol_aux([[1.0, 0.0], [2.0, 1.0], [-1.0, 3.0]], AUX, [7.0, 0.5, 2.0])
    np.testing.assert_array_equal(np.asarray(w), [1.0, 0.5, 2.0])   # main weight is 1
    np.testing.assert_allclose(np.asarray(d), [1 + 1 - 2, 0.5 + 6], rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(a), [0.0, 2.0, -1.0])
    # Two main tasks: g_main = (1, 0) + (0, 2) = (1, 2); g_main . (3, -1) = 1.
    _, w, a = ol_aux([[1.0, 0.0], [0.0, 2.0], [3.0, -1.0]], [False, False, True],
                     [0.0, 0.0, 0.25])
    np.testing.assert_array_equal(np.asarray(w), [1.0, 1.0, 0.25])
    np.testing.assert_array_equal(np.asarray(a), [0.0, 0.0, 1.0])


def test_absent_tasks_and_scale():
    grads = [[1.0, 0.0], [0.0, 2.0], [3.0, -1.0]]
    # The second main task absent: g_main = (1, 0), alignment 3.
    _, w, a = ol_aux(grads, [False, False, True], [1, 1, 1], present=[1.0, 0.0, 1.0])
    np.testing.assert_array_equal(np.asarray(w), [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(np.asarray(a), [0.0, 0.0, 3.0])
    # An absent auxiliary task: weight and alignment 0 whatever its row holds.
    _, w, a = ol_aux([[1.0, 0.0], [np.nan, 1.0]], [False, True], [1, 1], present=[1.0, 0.0])
    np.testing.assert_array_equal(np.asarray(w), [1.0, 0.0])
    np.testing.assert_array_equal(np.asarray(a), [0.0, 0.0])
    # Inner products scale with the square of the gradients: exactly for powers of two,
    # also where the squared norms leave float32's comfortable range (2^-120 < 2^-100).
    # g_main = (1, 2), g_main . (3, -1) = 1; direction (1, 0) + (0, 2) + (3, -1) = (4, 1).
    for exponent in (-60, -20, 30):
        s = np.float32(2.0 ** exponent)
        d, _, a = ol_aux(np.asarray(grads, "float32") * s, [False, False, True], [1, 1, 1])
        np.testing.assert_array_equal(np.asarray(d), np.array([4.0, 1.0], "float32") * s)
        assert float(a[2]) == 2.0 ** (2 * exponent)


def _strategy(**kwargs):
    strategy = OLAux(**kwargs)
    strategy.build_for_tasks([mtl.Task("main", "regression"),
                              mtl.Task("aux1", "regression", auxiliary=True),
                              mtl.Task("aux2", "binary", auxiliary=True)])
    return strategy


STEP_1 = [[1.0, 0.0], [2.0, 1.0], [-1.0, 3.0]]   # alignments  2, -1
STEP_2 = [[0.0, 2.0], [2.0, 1.0], [1.0, -1.0]]   # alignments  2, -2


@pytest.mark.parametrize("nonnegative,second_weight", [(True, 0.0), (False, -0.5)])
def test_one_update_by_hand(nonnegative, second_weight):
    strategy = _strategy(update_every=2, learning_rate=0.5, nonnegative=nonnegative)
    present = tf.ones(3)
    # Steps 1 and 2 use the initial weights (1, 1) and accumulate the alignments.
    d1, w1 = strategy.combine_gradients(tf.constant(STEP_1), present)
    np.testing.assert_array_equal(np.asarray(w1), [1.0, 1.0, 1.0])
    np.testing.assert_allclose(np.asarray(d1), [2.0, 4.0])
    np.testing.assert_array_equal(strategy.alignment.numpy(), [0.0, 2.0, -1.0])
    np.testing.assert_array_equal(strategy.aux_weights.numpy(), [1.0, 1.0, 1.0])
    d2, _ = strategy.combine_gradients(tf.constant(STEP_2), present)
    np.testing.assert_allclose(np.asarray(d2), [3.0, 2.0])
    # Step 2 is the N-th: w <- w + 0.5 * (sum of alignments): aux1 1 + 0.5 * 4 = 3,
    # aux2 1 + 0.5 * (-3) = -0.5 (projected to 0 when nonnegative). Sums restart.
    np.testing.assert_allclose(strategy.aux_weights.numpy(), [1.0, 3.0, second_weight])
    np.testing.assert_array_equal(strategy.alignment.numpy(), [0.0, 0.0, 0.0])
    assert int(strategy.step.numpy()) == 2
    # Step 3 uses the new weights: (1, 0) + 3 (2, 1) + w2 (-1, 3).
    d3, w3 = strategy.combine_gradients(tf.constant(STEP_1), present)
    np.testing.assert_allclose(np.asarray(w3), [1.0, 3.0, second_weight])
    np.testing.assert_allclose(np.asarray(d3), [7.0 - second_weight, 3.0 + 3 * second_weight])
    np.testing.assert_array_equal(strategy.alignment.numpy(), [0.0, 2.0, -1.0])


def test_absent_tasks_leave_the_state_alone():
    strategy = _strategy(update_every=2, learning_rate=0.5, initial_weight=0.25)
    np.testing.assert_array_equal(strategy.aux_weights.numpy(), [1.0, 0.25, 0.25])
    # No task present (e.g. a skipped step): nothing counted, nothing accumulated.
    strategy.combine_gradients(tf.zeros((3, 2)), tf.zeros(3))
    assert int(strategy.step.numpy()) == 0
    # aux2 absent: only aux1 accumulates (2); the step counts.
    strategy.combine_gradients(tf.constant(STEP_1), tf.constant([1.0, 1.0, 0.0]))
    np.testing.assert_array_equal(strategy.alignment.numpy(), [0.0, 2.0, 0.0])
    strategy.combine_gradients(tf.constant(STEP_2), tf.ones(3))
    # aux1: 0.25 + 0.5 * (2 + 2) = 2.25; aux2: max(0, 0.25 + 0.5 * (-2)) = 0.
    np.testing.assert_allclose(strategy.aux_weights.numpy(), [1.0, 2.25, 0.0])


def test_arguments_config_and_registry():
    strategy = OLAux(mode="representation", update_every=3, learning_rate=0.01,
                     initial_weight=0.5, nonnegative=False)
    clone = OLAux.from_config(strategy.get_config())
    assert clone.get_config() == strategy.get_config()
    assert (clone.mode, clone.update_every, clone.learning_rate, clone.initial_weight,
            clone.nonnegative) == ("representation", 3, 0.01, 0.5, False)
    assert type(mtl.weighting.get("ol_aux")) is OLAux
    with pytest.raises(ValueError, match="Expected update_every to be an int >= 1"):
        OLAux(update_every=0)
    with pytest.raises(ValueError, match="Expected learning_rate to be finite and > 0"):
        OLAux(learning_rate=0.0)
    with pytest.raises(ValueError, match="Expected initial_weight to be finite and >= 0"):
        OLAux(initial_weight=-1.0)
    with pytest.raises(TypeError, match="Expected nonnegative to be True or False"):
        OLAux(nonnegative=1)
    with pytest.raises(ValueError, match="OLAux weighs auxiliary tasks.*none auxiliary"):
        OLAux().build_for_tasks(["a", "b"])


def _tasks():
    return [mtl.Task("target", "regression"),
            mtl.Task("helper", "binary", auxiliary=True)]


def _data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype("float32")
    y = {"target": (x[:, 0] + x[:, 1]).astype("float32"),
         "helper": (x[:, 0] > 0).astype("float32")}
    y["target"][16:32] = np.nan       # the second batch of 16 has no main label
    y["helper"][::5] = -1
    return x, y


@pytest.mark.parametrize("mode", ["parameters", "representation"])
def test_trains_with_missing_labels_on_tf_data_saves_and_resumes(mode, tmp_path):
    x, y = _data()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    model = mtl.build_hard_sharing(keras.Input((3,)), mtl.backbones.mlp([8]), _tasks())
    model.compile(optimizer=keras.optimizers.SGD(0.05),
                  weighting=OLAux(mode, update_every=3, learning_rate=0.5))
    history = model.fit(ds, epochs=2, verbose=0).history
    np.testing.assert_allclose(history["target_weight"], [0.75, 0.75])
    assert int(model.weighting.step.numpy()) == 8
    weight = float(model.weighting.aux_weights.numpy()[1])
    assert weight != 1.0 and weight >= 0.0           # two updates (steps 3 and 6) moved it
    # The state is saved: a loaded model continues exactly like the original.
    path = str(tmp_path / "ol_aux.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    for want, have in zip(model.weighting.variables, loaded.weighting.variables):
        np.testing.assert_array_equal(np.asarray(have), np.asarray(want))
    batch = next(iter(ds))
    model.train_on_batch(*batch)
    loaded.train_on_batch(*batch)                    # step 9: the third update
    np.testing.assert_allclose(loaded.weighting.aux_weights.numpy(),
                               model.weighting.aux_weights.numpy(), rtol=1e-6)
    for want, have in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(have, want, rtol=1e-5, atol=1e-6)
