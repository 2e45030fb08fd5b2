"""Per-batch measures of mtl_keras.affinity against hand computations."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_keras as mtl
from mtl_keras.affinity import (
    check_shared_trunk,
    gradient_cosines,
    lookahead_affinity,
    trunk_variable_tasks,
)

# Task -> (head weight a, head bias b): prediction = a * w * x + b.
HEADS = {"a": (2.0, 0.1), "b": (-1.0, 0.3), "c": (0.5, -0.2)}
W = 0.5
X = np.array([[1.0], [2.0], [-1.0], [0.5]], "float32")
Y = {"a": np.array([1.0, 2.0, np.nan, 0.0], "float32"),     # one missing label
     "b": np.array([0.0, -1.0, 1.0, 0.2], "float32"),
     "c": np.array([0.3, 0.1, -0.4, 0.9], "float32")}
SAMPLE_WEIGHT = {"c": np.array([1.0, 2.0, 0.0, 1.0], "float32")}


def linear_model():
    """Trunk r = w x (one weight), regression heads a_t r + b_t: everything by hand."""
    tasks = [mtl.Task(n, "regression") for n in HEADS]
    model = mtl.build_hard_sharing(keras.Input((1,)),
                                   keras.layers.Dense(1, use_bias=False, name="w"), tasks)
    model.trunk.get_layer("w").kernel.assign([[W]])
    for head in model.heads:
        a, b = HEADS[head.name]
        head.output_dense.kernel.assign([[a]])
        head.output_dense.bias.assign([b])
    return model


def weights(task, sample_weight):
    labelled = ~np.isnan(Y[task])
    extra = sample_weight.get(task, np.ones(len(X))) if sample_weight else np.ones(len(X))
    return labelled * extra


def residual(task, w):
    a, b = HEADS[task]
    return a * w * X[:, 0] + b - np.nan_to_num(Y[task])


def loss(task, w, sample_weight=None):
    m = weights(task, sample_weight)
    return np.sum(m * residual(task, w) ** 2) / np.sum(m)


def grad(task, w, sample_weight=None):      # dL/dw
    m = weights(task, sample_weight)
    a, _ = HEADS[task]
    return np.sum(m * 2 * residual(task, w) * a * X[:, 0]) / np.sum(m)


def test_lookahead_affinity_by_hand():
    lr = 0.1
    model = linear_model()
    for sample_weight in (None, SAMPLE_WEIGHT):
        z = lookahead_affinity(model, X, Y, sample_weight, learning_rate=lr)
        expected = np.array([[1 - loss(j, W - lr * grad(i, W, sample_weight), sample_weight)
                              / loss(j, W, sample_weight) for j in HEADS] for i in HEADS])
        np.testing.assert_allclose(z.values.numpy(), expected, rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(z.measured.numpy(), np.ones((3, 3)))


def test_lookahead_affinity_compiled_matches_eager():
    # Inside a tf.function (as in training) the measure is one XLA cluster.
    model = linear_model()
    eager = lookahead_affinity(model, X, Y, learning_rate=0.1).values.numpy()
    compiled = tf.function(lambda x, y: lookahead_affinity(model, x, y, learning_rate=0.1))
    np.testing.assert_allclose(compiled(X, Y).values.numpy(), eager, rtol=1e-5, atol=1e-7)


def test_lookahead_affinity_default_step_is_the_optimizers_learning_rate():
    model = linear_model()
    model.compile(optimizer=keras.optimizers.SGD(0.05))
    np.testing.assert_allclose(lookahead_affinity(model, X, Y).values.numpy(),
                               lookahead_affinity(model, X, Y, learning_rate=0.05).values.numpy(),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="Expected a learning_rate"):
        lookahead_affinity(linear_model(), X, Y)
    with pytest.raises(ValueError, match="learning_rate to be finite and > 0"):
        lookahead_affinity(linear_model(), X, Y, learning_rate=-0.1)


def test_a_task_without_labels_is_not_measured():
    y = dict(Y, b=np.full(4, np.nan, "float32"))
    z = lookahead_affinity(linear_model(), X, y, learning_rate=0.1)
    measured = np.ones((3, 3))
    measured[1, :] = measured[:, 1] = 0.0
    np.testing.assert_array_equal(z.measured.numpy(), measured)
    np.testing.assert_array_equal(z.values.numpy()[1], 0.0)
    # The other pairs are those of a batch without task b.
    a_c = 1 - loss("c", W - 0.1 * grad("a", W)) / loss("c", W)
    np.testing.assert_allclose(z.values.numpy()[0, 2], a_c, rtol=1e-5)


def test_gradient_cosines_by_hand():
    model = linear_model()
    # Representation mode: d L_t / d r_n = 2 m_n (a_t w x_n + b_t - y_n) a_t / sum(m).
    rows = np.stack([weights(t, None) * 2 * residual(t, W) * HEADS[t][0]
                     / weights(t, None).sum() for t in HEADS])
    norms = np.linalg.norm(rows, axis=1)
    np.testing.assert_allclose(gradient_cosines(model, X, Y).values.numpy(),
                               rows @ rows.T / np.outer(norms, norms), rtol=1e-5, atol=1e-6)
    # Parameters mode: one shared weight, so the cosine is the product of the signs.
    signs = np.sign([grad(t, W) for t in HEADS])
    np.testing.assert_allclose(gradient_cosines(model, X, Y, mode="parameters").values.numpy(),
                               np.outer(signs, signs), rtol=1e-5)


def test_gradient_cosines_bad_mode():
    mmoe = mtl.build_mmoe(keras.Input((3,)), [mtl.Task("a", "regression"),
                                              mtl.Task("b", "regression")],
                          num_experts=2, expert_units=(4,))
    x, y = np.zeros((4, 3), "float32"), {"a": np.zeros(4), "b": np.zeros(4)}
    with pytest.raises(ValueError, match="Expected mode='parameters'.*Received: mode='rep"):
        gradient_cosines(mmoe, x, y)
    with pytest.raises(ValueError, match="Expected mode to be one of"):
        gradient_cosines(mmoe, x, y, mode="weights")
    assert gradient_cosines(mmoe, x, y, mode="parameters").values.shape == (2, 2)


def test_labels_must_be_a_dict_of_the_tasks():
    with pytest.raises(ValueError, match="Expected labels as a dict"):
        lookahead_affinity(linear_model(), X, Y["a"], learning_rate=0.1)
    with pytest.raises(ValueError, match="'c'"):
        lookahead_affinity(linear_model(), X, {"a": Y["a"], "b": Y["b"]}, learning_rate=0.1)


def test_trunk_variable_tasks_per_architecture():
    tasks = [mtl.Task("a", "regression"), mtl.Task("b", "binary")]
    mmoe = mtl.build_mmoe(keras.Input((3,)), tasks, num_experts=2, expert_units=(4,))
    reached = {v.path: t for v, t in trunk_variable_tasks(mmoe)}
    # Experts are shared; each gate serves one task.
    assert {p: t for p, t in reached.items() if "expert" in p} == {
        p: ("a", "b") for p in reached if "expert" in p}
    gates = {t for p, t in reached.items() if "expert" not in p}
    assert gates == {("a",), ("b",)}
    soft = mtl.build_soft_sharing(keras.Input((3,)), mtl.backbones.mlp([4]), tasks)
    assert sorted({t for _, t in trunk_variable_tasks(soft)}) == [("a",), ("b",)]


def test_check_shared_trunk_refuses_models_without_shared_variables():
    tasks = [mtl.Task("a", "regression"), mtl.Task("b", "binary")]
    for coupling in (None, "l2"):     # soft sharing couples towers, shares no variable
        soft = mtl.build_soft_sharing(keras.Input((3,)), mtl.backbones.mlp([4]), tasks,
                                      coupling=coupling)
        with pytest.raises(ValueError, match="every trainable variable feeds a single task"):
            check_shared_trunk(soft)
    single = mtl.build_hard_sharing(keras.Input((3,)), mtl.backbones.mlp([4]),
                                    [mtl.Task("a", "regression")])
    with pytest.raises(ValueError, match=r"at least two tasks. Received: tasks=\['a'\]"):
        check_shared_trunk(single)
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="expects a `mtl_keras.MultiTaskModel`.*Sequential"):
        check_shared_trunk(plain)
    check_shared_trunk(linear_model())   # hard sharing: fine
