"""`mtl.evaluation.compare` end to end on penguins (tiny), resuming, and bad input."""

import glob
import json
import os

import pytest

import mtl_keras as mtl
from mtl_keras.evaluation import Configuration, compare, compare_models, delta_m


def hard(data, tasks):
    return mtl.build_hard_sharing(data.inputs(), mtl.backbones.mlp([8]), tasks,
                                  preprocessing=data.preprocessing())


def penguins(seed):
    return mtl.data.load_penguins(seed=seed)


def no_training(*args, **kwargs):
    raise AssertionError("a fit was trained")


def run(directory, **kwargs):
    return compare(penguins, [Configuration("hard", hard)], seeds=2,
                   tasks=["species", "body_mass", "sex"], auxiliary=["sex"], epochs=1,
                   batch_size=64, directory=directory, **kwargs)


@pytest.mark.slow  # 7 fits: ~20 s on a quiet 2-core machine
def test_compare_penguins_end_to_end_then_resume(tmp_path, capsys, monkeypatch):
    result = run(tmp_path)
    out = capsys.readouterr().out
    assert "compare: 6 fits (0 cached) over 2 seeds" in out
    assert "fit 1/6 seed 0 single_task (species):" in out and "left" in out
    assert "fit 6/6 seed 1 hard:" in out

    # The auxiliary task is trained by the multi-task model but not reported.
    assert result.tasks == ["species", "body_mass"] and result.auxiliary == ["sex"]
    assert result.metrics == {"species": "accuracy", "body_mass": "mae"}
    files = sorted(os.path.relpath(p, tmp_path) for p in glob.glob(f"{tmp_path}/*/*.json"))
    assert files == ["seed_0/hard.json", "seed_0/single_task.body_mass.json",
                     "seed_0/single_task.species.json", "seed_1/hard.json",
                     "seed_1/single_task.body_mass.json", "seed_1/single_task.species.json"]
    records = {}
    for name in files:
        with open(tmp_path / name) as f:
            records[name] = json.load(f)
    hard_record = records["seed_1/hard.json"]
    assert hard_record["selected_on"] == "val_main_task_loss_sum"
    assert hard_record["settings"]["tasks"] == ["species", "body_mass", "sex"]
    assert "sex_accuracy" in hard_record["test"]
    assert records["seed_1/single_task.species.json"]["selected_on"] == "val_task_loss_sum"
    assert records["seed_1/single_task.species.json"]["settings"]["tasks"] == ["species"]

    # The report is made of the cached per-fit test metrics, paired by seed.
    single = {t: [records[f"seed_{s}/single_task.{t}.json"]["test"][f"{t}_{m}"] for s in (0, 1)]
              for t, m in result.metrics.items()}
    assert result.scores["single_task"] == single
    multi = {t: [records[f"seed_{s}/hard.json"]["test"][f"{t}_{m}"] for s in (0, 1)]
             for t, m in result.metrics.items()}
    assert result.scores["hard"] == multi
    expected = [delta_m({t: multi[t][s] for t in multi}, {t: single[t][s] for t in single},
                        {"species": "max", "body_mass": "min"}) for s in (0, 1)]
    assert result.summary["hard"]["delta_m_values"] == pytest.approx(expected)
    # Costs: the baseline adds up its two single-task models.
    assert result.costs["single_task"]["parameters"] == (
        records["seed_0/single_task.species.json"]["parameters"]
        + records["seed_0/single_task.body_mass.json"]["parameters"])
    assert result.costs["hard"]["train_seconds"][1] == hard_record["train_seconds"]
    assert all(ms > 0 for ms in result.costs["hard"]["latency_ms"])
    assert "Δm (%)" in result.table()

    # Resume: only the fit whose record is gone trains again, and (seeded) it
    # gives the same test metrics.
    os.remove(tmp_path / "seed_1" / "hard.json")
    trained = []

    def counting(build, data, tasks, **kwargs):
        trained.append((kwargs["seed"], [t.name for t in tasks]))
        return real_fit(build, data, tasks, **kwargs)

    real_fit = compare_models.fit_once
    monkeypatch.setattr(compare_models, "fit_once", counting)
    again = run(tmp_path)
    assert trained == [(1, ["species", "body_mass", "sex"])]
    assert "compare: 6 fits (5 cached)" in capsys.readouterr().out
    assert again.scores == result.scores

    # Other settings with the same directory: refused before any training.
    monkeypatch.setattr(compare_models, "fit_once", no_training)
    with pytest.raises(ValueError, match="same settings"):
        compare(penguins, [Configuration("hard", hard)], seeds=2,
                tasks=["species", "body_mass", "sex"], auxiliary=["sex"], epochs=2,
                batch_size=64, directory=tmp_path, verbose=0)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"seeds": 1}, ValueError, "seeds .* >= 2"),
    ({"seeds": [3]}, ValueError, "at least 2 distinct seeds"),
    ({"seeds": [1, 1]}, ValueError, "at least 2 distinct seeds"),
    ({"tasks": ["species", "wingspan"]}, ValueError, "unknown tasks \\['wingspan'\\]"),
    ({"tasks": ["species", "sex"], "auxiliary": ["species", "sex"]}, ValueError,
     "at least one main"),
    ({"tasks": ["species"], "auxiliary": ["sex"]}, ValueError, "among the tasks trained"),
    ({"metrics": {"species": "mae"}}, ValueError, "metric of 'species' among"),
    ({"metrics": {"sex": "accuracy"}, "auxiliary": ["sex"]}, ValueError, "keyed by main tasks"),
    ({"epochs": 0}, ValueError, "epochs"),
    ({"single_task": hard}, ValueError, "single_task to be a Configuration"),
])
def test_bad_input_is_refused_before_training(monkeypatch, kwargs, error, match):
    monkeypatch.setattr(compare_models, "fit_once", no_training)
    with pytest.raises(error, match=match):
        compare(mtl.data.load_penguins(), [Configuration("hard", hard)], verbose=0, **kwargs)


def test_output_directory_that_is_a_file(monkeypatch, tmp_path):
    monkeypatch.setattr(compare_models, "fit_once", no_training)
    path = tmp_path / "results"
    path.write_text("not a directory")
    with pytest.raises(FileExistsError, match="is an existing file"):
        compare(mtl.data.load_penguins(), [Configuration("hard", hard)], seeds=2,
                directory=path, verbose=0)


@pytest.mark.parametrize("configurations, match", [
    ([], "non-empty list"),
    ([hard], "non-empty list"),
    ([Configuration("a", hard), Configuration("a", hard)], "distinct configuration names"),
    ([Configuration("single_task", hard)], "distinct configuration names"),
])
def test_bad_configurations(monkeypatch, configurations, match):
    monkeypatch.setattr(compare_models, "fit_once", no_training)
    with pytest.raises(ValueError, match=match):
        compare(mtl.data.load_penguins(), configurations, verbose=0)


def test_configuration_arguments():
    with pytest.raises(ValueError, match="Received: name='a/b'"):
        Configuration("a/b", hard)
    with pytest.raises(TypeError, match="callable"):
        Configuration("a", "hard_sharing")
    config = Configuration("u", hard, weighting={"species": 2}, description={"units": [8]})
    assert config.fingerprint() == {"weighting": {"species": 2.0},
                                    "description": {"units": [8]}}


def test_kfold_indices_test_every_row_once():
    folds = [compare_models.kfold_indices(11, folds=4, fold=k, seed=3) for k in range(4)]
    tested = sorted(i for f in folds for i in f["test"])
    assert tested == list(range(11))  # each row in exactly one test fold
    for k, f in enumerate(folds):
        # The validation fold is the next fold's test fold; the three parts cover the rows.
        assert list(f["validation"]) == list(folds[(k + 1) % 4]["test"])
        assert sorted([*f["train"], *f["validation"], *f["test"]]) == list(range(11))
    # 11 rows in 4 parts: sizes 3, 3, 3, 2.
    assert [len(f["test"]) for f in folds] == [3, 3, 3, 2]
    assert list(folds[0]["test"]) == list(compare_models.kfold_indices(11, 4, 0, seed=3)["test"])


@pytest.mark.parametrize("args, match", [
    ((10, 2, 0), "folds to be an int >= 3"),
    ((2, 3, 0), "num_rows to be an int >= 3"),
    ((10, 3, 3), "fold to be an int"),
])
def test_kfold_indices_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        compare_models.kfold_indices(*args)


def test_each_fit_gets_a_fresh_weighting_strategy():
    # A Configuration's strategy instance trains one model per seed: each fit compiles a
    # copy built from its config, so no state (OL-AUX's learned weights, its step counter,
    # a built flag) passes from one fit to the next.
    from mtl_keras.evaluation import compare_fit

    given = mtl.weighting.OLAux(mode="representation", update_every=3, learning_rate=0.2)
    fresh = compare_fit._fresh(given)
    assert fresh is not given and type(fresh) is type(given)
    assert fresh.get_config() == given.get_config()
    assert compare_fit._fresh("uncertainty") == "uncertainty"
    assert compare_fit._fresh({"species": 2.0}) == {"species": 2.0}
