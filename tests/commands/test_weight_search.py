"""`demo_search` (the search of `mtl-keras demo`): tuned weights next to equal weights on test."""

import pytest

import mtl_keras as mtl
from mtl_keras.commands._weight_search import WeightSearch, demo_search, format_comparison
from mtl_keras.evaluation import delta_m


def test_demo_search_returns_tuned_and_equal_test_metrics(tmp_path):
    data = mtl.data.load_penguins()
    out = demo_search(data, epochs=1, max_trials=1, directory=str(tmp_path), units=(8,),
                      executions=0)
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
    # Without a noise check (executions=0) the best trial's weights are kept.
    assert out["noise_check"] is None and not out["kept_equal"]
    assert out["weights"] == out["best_weights"]
    with pytest.raises(ValueError, match="Received: executions=1"):
        demo_search(data, epochs=1, max_trials=1, directory=str(tmp_path), executions=1)
    with pytest.raises(ValueError, match="Expected max_trials to be an int >= 1"):
        demo_search(data, epochs=1, max_trials=0, directory=str(tmp_path))


@pytest.mark.slow  # 9 short fits
def test_noise_check_of_equal_weights_against_themselves_keeps_equal_weights(tmp_path):
    search = WeightSearch(mtl.data.load_penguins(), epochs=1, units=(8,))
    val, _ = search.train_eval(search.equal_weights)
    objective = search.hypermodel(objective="delta_m",
                                  baselines=search.baselines(val)).objective
    lines = []
    check = search.check_noise(search.equal_weights, objective, executions=2,
                               progress=lines.append)
    # Same weights, same seeds (1 and 2, not the search's 0): identical runs, no gain.
    assert check.candidate == check.reference
    assert not check.beats and check.text().endswith("keeping equal weights.")
    assert lines[0].startswith("execution 1/2 (seed 1): val_delta_m tuned ")
    # Execution 1's objective: Δm of the seed-1 run over the seed-0 baselines.
    val_1, _ = search.train_eval(search.equal_weights, seed=1)
    keys = ["species_accuracy", "sex_accuracy", "body_mass_mae"]
    expected = delta_m([val_1[k] for k in keys], [val[k] for k in keys], ["max", "max", "min"])
    assert check.reference[0] == pytest.approx(expected, rel=1e-6)

    # demo_search keeps the best trial's weights only if they beat equal weights.
    out = demo_search(mtl.data.load_penguins(), epochs=1, max_trials=1,
                      directory=str(tmp_path), units=(8,), executions=2)
    check = out["noise_check"]
    assert len(check.candidate) == len(check.reference) == 2
    assert out["kept_equal"] == (not check.beats)
    assert out["weights"] == (out["equal_weights"] if out["kept_equal"] else out["best_weights"])
    assert format_comparison(out).splitlines()[-1] == (
        f"On validation, fresh seeds: {check.text()}")
