import keras
import pytest

import mtl_keras as mtl
from mtl_keras import weighting

LOSS_METHODS = {
    "static": weighting.StaticWeighting,
    "equal": weighting.StaticWeighting,
    "uncertainty": weighting.UncertaintyWeighting,
    "dwa": weighting.DynamicWeightAverage,
    "rlw": weighting.RandomLossWeighting,
    "gls": weighting.GeometricLossStrategy,
    "famo": weighting.FAMO,
    "dbmtl": weighting.DualBalancingLossScale,
}


def _model():
    tasks = [mtl.Task("a", "binary"), mtl.Task("b", "regression")]
    return mtl.build_hard_sharing(keras.Input((3,)), mtl.backbones.mlp([8]), tasks)


@pytest.mark.parametrize("name", sorted(LOSS_METHODS))
def test_names_resolve_to_their_class(name):
    assert name in weighting.available()
    strategy = weighting.get(name.upper())
    assert type(strategy) is LOSS_METHODS[name]
    assert weighting.get(name) is not strategy      # a fresh object each time


def test_unknown_name_lists_the_available_ones():
    with pytest.raises(ValueError, match="Unknown weighting method 'nope'.*'dwa'.*'famo'"):
        _model().compile(optimizer="sgd", weighting="nope")


def test_bad_input_fails_at_compile_time():
    with pytest.raises(ValueError, match="do not exist: \\['c'\\]"):
        _model().compile(optimizer="sgd", weighting={"c": 1.0})
    with pytest.raises(ValueError, match="do not exist: \\['c'\\]"):
        _model().compile(optimizer="sgd",
                         weighting=weighting.UncertaintyWeighting({"c": "regression"}))
    with pytest.raises(ValueError, match="temperature"):
        _model().compile(optimizer="sgd", weighting=weighting.DynamicWeightAverage(0.0))
    with pytest.raises(TypeError, match="Expected weighting"):
        _model().compile(optimizer="sgd", weighting=3)


@pytest.mark.parametrize("name", ["uncertainty", "dwa", "rlw", "gls", "famo", "dbmtl"])
def test_serialized_strategy_resolves(name):
    strategy = weighting.get(name)
    config = keras.saving.serialize_keras_object(strategy)
    clone = weighting.get(config)
    assert type(clone) is type(strategy)
    assert clone.get_config() == strategy.get_config()
