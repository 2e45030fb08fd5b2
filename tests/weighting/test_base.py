"""The weighting base classes: seeds and step counters, one `combine_gradients` signature."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import mtl_keras as mtl
from mtl_keras import weighting
from mtl_keras.weighting import base, gradient_common


class _Noise(weighting.LossWeighting):
    """A random rule: weight 1 + u, u uniform from (seed, step)."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.set_seed(seed)

    def compute_weights(self, global_losses, present, training):
        return 1.0 + tf.random.stateless_uniform((self.num_tasks,), seed=self.next_seed())


def test_set_seed_gives_a_counter_a_config_entry_and_one_seed_per_step():
    rule = _Noise(seed=7)
    rule.build_for_tasks(["a", "b"])
    assert rule.get_config()["seed"] == 7
    assert [v.name for v in rule.variables] == ["step"]
    assert rule.current_seed().numpy().tolist() == [7, 0]      # does not advance
    assert rule.next_seed().numpy().tolist() == [7, 1]
    assert rule.next_seed().numpy().tolist() == [7, 2]
    assert int(rule.step.numpy()) == 2
    expected = 1.0 + tf.random.stateless_uniform((2,), seed=[7, 3]).numpy()
    np.testing.assert_array_equal(rule.compute_weights(None, None, True), expected)


def test_seed_none_draws_one_and_keeps_none_in_the_config():
    rule = _Noise()
    rule.build_for_tasks(["a"])
    assert rule.get_config()["seed"] is None
    first = int(rule.current_seed().numpy()[0])
    assert 0 <= first < 2**31 and rule.seed is None
    clone = _Noise.from_config(rule.get_config())
    assert clone.seed is None


@pytest.mark.parametrize("bad", [1.5, "3", True])
def test_seed_must_be_an_int_or_none(bad):
    with pytest.raises(ValueError,
                       match=f"Expected seed to be None or an int. Received: seed={bad!r}"):
        _Noise(seed=bad)


def test_rules_without_a_seed_have_no_counter_and_no_seed_entry():
    rule = weighting.StaticWeighting()
    rule.build_for_tasks(["a"])
    assert "seed" not in rule.get_config() and rule.variables == []


def test_random_gradient_rules_use_the_base_counter():
    # PCGrad, GradDrop and GradVac keep no seed code of their own: the base's
    # counter is their first variable and `next_seed` their seed.
    for rule in (weighting.PCGrad(seed=3), weighting.GradDrop(seed=3), weighting.GradVac(seed=3)):
        rule.build_for_tasks(["a", "b"])
        assert rule.variables[0].name == "step" and rule.get_config()["seed"] == 3
        assert type(rule).next_seed is base.Weighting.next_seed


def test_pcgrad_draws_its_orders_from_seed_and_advanced_step():
    rule = weighting.PCGrad(seed=5)
    rule.build_for_tasks(["a", "b", "c"])
    grads = tf.constant([[1.0, 0.0], [-1.0, 1.0], [0.5, -2.0]])
    present = tf.ones([3])
    d, w = rule.combine_gradients(grads, present)
    want_d, want_w = weighting.pcgrad(grads, present, seed=(5, 1))   # first step: step 1
    np.testing.assert_array_equal(d, want_d)
    np.testing.assert_array_equal(w, want_w)


def test_shared_gradient_weighting_has_one_home():
    assert weighting.SharedGradientWeighting is base.SharedGradientWeighting
    assert gradient_common.SharedGradientWeighting is base.SharedGradientWeighting
    assert "check_model" not in vars(base.SharedGradientWeighting)
    assert "add_step_counter" not in vars(base.SharedGradientWeighting)
    with pytest.raises(ValueError, match="Expected mode to be one of "
                                         r"\['parameters', 'representation'\]. Received: mode='x'"):
        base.SharedGradientWeighting(mode="x")


def test_every_gradient_rule_takes_losses():
    import inspect

    for name in weighting.available():
        rule = weighting.get(name)
        if rule.combines_gradients:
            params = inspect.signature(rule.combine_gradients).parameters
            assert list(params)[:3] == ["grads", "present", "losses"], name
            assert params["losses"].default is None, name


def test_a_rule_written_for_the_old_signature_is_wrapped_with_a_warning():
    with pytest.warns(DeprecationWarning, match="should take `losses=None`"):
        class OldSum(weighting.SharedGradientWeighting):
            def combine_gradients(self, grads, present):
                return tf.reduce_sum(grads, axis=0), present

    d, w = OldSum().combine_gradients(tf.constant([[1.0, 2.0], [3.0, 4.0]]), tf.ones([2]),
                                      losses=tf.constant([0.5, 0.5]))
    np.testing.assert_array_equal(d, [4.0, 6.0])
    np.testing.assert_array_equal(w, [1.0, 1.0])


def test_mgda_ub_is_a_registry_entry_that_saves_as_mgda():
    assert "mgda_ub" in weighting.available() and not hasattr(weighting, "mgda_ub")
    rule = weighting.get("mgda_ub")
    assert type(rule) is weighting.MGDA and rule.mode == "representation"
    assert weighting.get("mgda_ub") is not rule                       # a fresh one each time
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(rule))
    assert type(restored) is weighting.MGDA
    assert restored.get_config() == rule.get_config()
    assert mtl.weighting.get(keras.saving.serialize_keras_object(rule)).mode == "representation"
