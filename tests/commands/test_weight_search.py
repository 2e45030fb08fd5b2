"""`demo_search` (the search of `mtl-keras demo`): tuned weights next to equal weights on test."""

import pytest

import mtl_keras as mtl
from mtl_keras.commands._weight_search import demo_search, format_comparison


def test_demo_search_returns_tuned_and_equal_test_metrics(tmp_path):
    data = mtl.data.load_penguins()
    out = demo_search(data, epochs=1, max_trials=1, directory=str(tmp_path), units=(8,))
    assert out["trials"] == 1
    assert out["equal_weights"] == {"species": 1.0, "sex": 1.0, "body_mass": 1.0}
    assert sum(out["weights"].values()) == pytest.approx(3.0)
    keys = ["species_accuracy", "sex_accuracy", "body_mass_mae"]
    # Δm of tuned over equal, by hand from the returned test metrics.
    e, t = out["equal"], out["tuned"]
    expected = 100 / 3 * ((t[keys[0]] - e[keys[0]]) / e[keys[0]]
                          + (t[keys[1]] - e[keys[1]]) / e[keys[1]]
                          - (t[keys[2]] - e[keys[2]]) / e[keys[2]])
    assert out["delta_m_test"] == pytest.approx(expected, rel=1e-5)
    table = format_comparison(out)
    assert table.splitlines()[2].startswith("equal") and "tuned" in table
    with pytest.raises(ValueError, match="Expected max_trials to be an int >= 1"):
        demo_search(data, epochs=1, max_trials=0, directory=str(tmp_path))
