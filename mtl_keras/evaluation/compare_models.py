"""`compare`: single-task models against multi-task configurations, paired by seed.

Does sharing help on my data? For each seed (or fold) the same data split
trains one single-task model per main task and every multi-task
configuration given; each fit is seeded, selected on the validation split's
unweighted main-task loss sum (best epoch restored; the test split is only
evaluated), and its test metrics, parameters, training time and serving
latency are recorded. The report (`ComparisonResult`) gives per task the mean
and interval over seeds, and for each configuration Δm (Maninis et al., CVPR
2019) with its interval and paired tests (`compare_stats`), and the cost.

With a `directory`, every finished fit is written there at once as JSON; a
comparison run again with the same directory and settings reads those and
trains only the fits still missing (an interrupted comparison resumes).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from typing import Any, Callable, Mapping, Sequence

from mtl_keras._validators import check_int, check_number
from mtl_keras.evaluation.compare_fit import fit_once, selection_key
from mtl_keras.evaluation.compare_result import ComparisonResult

__all__ = ["BASELINE", "Configuration", "compare", "kfold_indices"]

BASELINE = "single_task"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclasses.dataclass(frozen=True)
class Configuration:
    """One model setup to compare: how to build it and how to weight its losses.

    Args:
        name: Its name in the report and the cache: letters, digits and
            `_ . + -`.
        build: `build(data, tasks) -> MultiTaskModel`, a fresh model over
            `data`'s inputs with one head per task (any builder or architecture).
        weighting: `MultiTaskModel.compile`'s `weighting` (a method name, a
            `{task: weight}` dict, a strategy, or None for equal weights).
        description: JSON-ready facts about the setup (architecture, widths),
            recorded with each cached fit: a cache made with another
            description is refused instead of reused.

    Example:

    >>> import mtl_keras as mtl
    >>> def hard(data, tasks):
    ...     return mtl.build_hard_sharing(data.inputs(), mtl.backbones.mlp([32]), tasks,
    ...                                   preprocessing=data.preprocessing())
    >>> Configuration("hard_uncertainty", hard, weighting="uncertainty").name
    'hard_uncertainty'
    """

    name: str
    build: Callable[[Any, list], Any]
    weighting: Any = None
    description: Mapping[str, Any] | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(
                "Expected a configuration name of letters, digits and _ . + - (it names a "
                f"cache file). Received: name={self.name!r}")
        if not callable(self.build):
            raise TypeError(
                "Expected build to be a callable build(data, tasks) -> MultiTaskModel. "
                f"Received: build={self.build!r}")

    def fingerprint(self) -> dict:
        """What identifies this setup in the cache (not the build function itself)."""
        return {"weighting": _describe(self.weighting),
                "description": json.loads(json.dumps(self.description or {}, default=repr))}


def kfold_indices(num_rows: int, folds: int, fold: int, seed: int = 0) -> dict:
    """Row indices of fold `fold` of a seeded k-fold split, for `compare(data=...)`.

    The rows are permuted with `seed` and cut into `folds` parts of (nearly)
    equal size: part `fold` is the test split, part `fold + 1` (cyclically)
    the validation split, the others the training split. Over `fold = 0 ..
    folds - 1` every row is tested exactly once. Build the data of one fold
    from these indices and pass `data=lambda fold: ...` with `seeds=folds`.

    Args:
        num_rows: Number of rows, at least `folds`.
        folds: Number of folds, at least 3 (train, validation and test differ).
        fold: Which fold, in `[0, folds)`.
        seed: Seed of the permutation (the same for every fold).

    Returns:
        `{"train": indices, "validation": indices, "test": indices}`, each
        sorted.

    Raises:
        ValueError: Bad `num_rows`, `folds` or `fold`.

    Example:

    >>> parts = kfold_indices(10, folds=5, fold=0)
    >>> [len(parts[k]) for k in ("train", "validation", "test")]
    [6, 2, 2]
    """
    import numpy as np

    folds = check_int(folds, "folds", min_value=3)
    check_int(num_rows, "num_rows", min_value=folds)
    check_int(fold, "fold", min_value=0, max_value=folds - 1)
    parts = np.array_split(np.random.default_rng(seed).permutation(num_rows), folds)
    test, validation = parts[fold], parts[(fold + 1) % folds]
    train = np.concatenate([p for i, p in enumerate(parts) if i not in (fold, (fold + 1) % folds)])
    return {"train": np.sort(train), "validation": np.sort(validation), "test": np.sort(test)}


def _describe(weighting):
    if weighting is None or isinstance(weighting, (str, int, float)):
        return weighting
    if isinstance(weighting, Mapping):
        return {str(k): float(v) for k, v in weighting.items()}
    get_config = getattr(weighting, "get_config", None)
    config = get_config() if callable(get_config) else None
    return {"class": type(weighting).__name__,
            "config": json.loads(json.dumps(config, default=repr))}


def _check_seeds(seeds) -> list[int]:
    if isinstance(seeds, bool) or not (isinstance(seeds, int) or isinstance(seeds, Sequence)):
        raise ValueError(
            f"Expected seeds to be a number k >= 2 or a list of at least 2 distinct seeds. "
            f"Received: seeds={seeds!r}")
    if isinstance(seeds, int):
        check_int(seeds, "seeds (the number of seeds; intervals need at least 2)", min_value=2)
        return list(range(seeds))
    seeds = list(seeds)
    for s in seeds:
        check_int(s, "every seed", min_value=0)
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise ValueError(
            "Expected at least 2 distinct seeds (intervals and paired tests need 2). "
            f"Received: seeds={seeds!r}")
    return [int(s) for s in seeds]


def _check_configurations(configurations, baseline):
    if isinstance(configurations, Configuration):
        configurations = [configurations]
    if not isinstance(configurations, Sequence) or not configurations or not all(
            isinstance(c, Configuration) for c in configurations):
        raise ValueError(
            "Expected a non-empty list of mtl_keras.evaluation.Configuration. Received: "
            f"configurations={configurations!r}")
    names = [c.name for c in configurations]
    if len(set(names)) != len(names) or baseline in names:
        raise ValueError(
            f"Expected distinct configuration names, none of them {baseline!r} (the "
            f"single-task baseline). Received: {names}")
    return list(configurations)


def _resolve_tasks(all_tasks, names, auxiliary):
    """The tasks to train (auxiliary ones marked) and the main ones."""
    from mtl_keras.tasks import Task

    by_name = {t.name: t for t in all_tasks}
    names = list(by_name) if names is None else list(names)
    auxiliary = list(auxiliary)
    for what, given in (("tasks", names), ("auxiliary", auxiliary)):
        unknown = [n for n in given if n not in by_name]
        if unknown:
            raise ValueError(
                f"Expected {what} among the data's tasks {sorted(by_name)}. Received unknown "
                f"tasks {unknown}")
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"Expected distinct task names. Received: tasks={names!r}")
    outside = [n for n in auxiliary if n not in names]
    if outside:
        raise ValueError(
            f"Expected auxiliary tasks among the tasks trained {names}. Received: {outside}")
    tasks = []
    for n in names:
        task = by_name[n]
        if n in auxiliary and not task.auxiliary:
            task = Task.from_config({**task.get_config(), "auxiliary": True})
        tasks.append(task)
    main = [t for t in tasks if not t.auxiliary]
    if not main:
        raise ValueError(
            f"Expected at least one main (not auxiliary) task to compare on. Received only "
            f"auxiliary tasks: {names}")
    return tasks, main


def _resolve_metrics(main, metrics):
    from mtl_keras.task_metrics import direction

    metrics = dict(metrics or {})
    unknown = [k for k in metrics if k not in [t.name for t in main]]
    if unknown:
        raise ValueError(
            f"Expected metrics keyed by main tasks {[t.name for t in main]}. Received: "
            f"{unknown}")
    chosen = {}
    for task in main:
        logged = [m.name[len(task.name) + 1:] for m in task.make_metrics()] + ["loss"]
        metric = metrics.get(task.name, logged[0])
        if metric not in logged:
            raise ValueError(
                f"Expected the metric of {task.name!r} among {logged}. Received: {metric!r}")
        chosen[task.name] = metric
    return chosen, {t: direction(m) for t, m in chosen.items()}


def _check_directory(directory):
    if directory is None:
        return None
    directory = os.fspath(directory)
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise FileExistsError(
            "Expected directory to be a directory for the cached fits. Received: "
            f"directory={directory!r} is an existing file.")
    os.makedirs(directory, exist_ok=True)
    return directory


class _Progress:
    """`fit i/N`, elapsed time and an estimate of the time left, one line per fit."""

    def __init__(self, total, to_train, verbose):
        self.total, self.to_train, self.verbose = total, to_train, verbose
        self.start, self.done, self.trained, self.train_time = time.perf_counter(), 0, 0, 0.0

    def say(self, text):
        if self.verbose:
            print(text, flush=True)

    def step(self, label, seconds=None):
        self.done += 1
        elapsed = time.perf_counter() - self.start
        if seconds is None:
            self.say(f"fit {self.done}/{self.total} {label}: cached")
            return
        self.trained += 1
        self.train_time += seconds
        left = self.train_time / self.trained * (self.to_train - self.trained)
        self.say(f"fit {self.done}/{self.total} {label}: {seconds:.1f} s; elapsed "
                 f"{_clock(elapsed)}, about {_clock(left)} left")


def _clock(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _read_cache(path, settings):
    if path is None or not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None  # an unreadable record is trained again
    if record.get("settings") != settings:
        raise ValueError(
            f"Expected the cached fit {path!r} to come from the same settings. Received "
            f"{record.get('settings')!r}, now {settings!r}. Use another directory, or "
            "delete it to start over.")
    return record


def _write_cache(path, record):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    partial = path + ".partial"
    with open(partial, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1)
    os.replace(partial, path)  # a killed process leaves no half-written record


def compare(data: Any, configurations: Sequence[Configuration], *, seeds: int | Sequence[int] = 5,
            tasks: Sequence[str] | None = None, auxiliary: Sequence[str] = (),
            metrics: Mapping[str, str] | None = None, single_task: Configuration | None = None,
            epochs: int = 60, batch_size: int = 32, learning_rate: float = 0.01,
            patience: int | None = None, directory: str | os.PathLike | None = None,
            confidence: float = 0.95, verbose: int = 1) -> ComparisonResult:
    """Trains single-task models and `configurations` over seeds; reports paired statistics.

    Args:
        data: The data, with `tasks`, `inputs()`, `preprocessing()` and
            `dataset(split, batch_size)` (e.g. `mtl.data.load_penguins()` or
            a `TableData`): every seed trains on the same split. Or a callable
            `data(seed) -> data`, for a new split per seed, or fold `seed` of
            a k-fold split (`kfold_indices`; the models of one seed always
            share its split).
        configurations: The multi-task `Configuration`s to compare.
        seeds: k >= 2 (seeds 0 .. k-1) or a list of distinct seeds.
        tasks: Names of the tasks to train (default: all of `data.tasks`).
        auxiliary: Names among them to train as auxiliary tasks: in the
            multi-task models only, out of model selection and the report.
        metrics: `{task: metric}` reported per main task (default: each
            task's first metric, e.g. accuracy, MAE).
        single_task: The `Configuration` of the single-task baseline models
            (one per main task; its name names the baseline). Default: the
            first configuration's `build` with one task.
        epochs, batch_size, learning_rate: Training settings (Adam) of every fit.
        patience: Early stopping on the selection quantity; None trains every
            epoch. The best validation epoch's weights are always restored.
        directory: Where each finished fit is cached (resumable); None keeps
            nothing.
        confidence: Coverage of the intervals.
        verbose: 1 prints a line per fit (with the time elapsed and left), 0 nothing.

    Returns:
        A `ComparisonResult` (`table()`, `to_dict()`, `save()`, `plot()`).

    Raises:
        ValueError: Fewer than 2 seeds, unknown or no main tasks, an unknown
            metric, bad settings, or a cache made with other settings, all
            before any training.
        FileExistsError: `directory` is a file.
    """
    if single_task is not None and not isinstance(single_task, Configuration):
        raise ValueError(
            f"Expected single_task to be a Configuration or None. Received: {single_task!r}")
    configurations = _check_configurations(
        configurations, BASELINE if single_task is None else single_task.name)
    base = single_task or Configuration(BASELINE, configurations[0].build,
                                        description=configurations[0].description)
    seeds = _check_seeds(seeds)
    epochs = check_int(epochs, "epochs", min_value=1)
    batch_size = check_int(batch_size, "batch_size", min_value=1)
    learning_rate = check_number(learning_rate, "learning_rate", min_value=0, min_exclusive=True)
    patience = check_int(patience, "patience", min_value=1, allow_none=True)
    check_number(confidence, "confidence", min_value=0, max_value=1, min_exclusive=True,
                 max_exclusive=True)
    check_int(verbose, "verbose", min_value=0)
    load = data if callable(data) else (lambda seed: data)
    first = load(seeds[0])
    trained, main = _resolve_tasks(list(first.tasks), tasks, auxiliary)
    chosen, directions = _resolve_metrics(main, metrics)
    directory = _check_directory(directory)

    common = {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
              "patience": patience}
    plan = []  # (seed, model name, single task or None, tasks trained, configuration)
    for seed in seeds:
        for task in main:
            plan.append((seed, base.name, task.name, [task], base))
        for config in configurations:
            plan.append((seed, config.name, None, trained, config))
    fits = []
    for seed, name, task, fit_tasks, config in plan:
        settings = {"model": name, "seed": seed, "tasks": [t.name for t in fit_tasks],
                    "auxiliary": [t.name for t in fit_tasks if t.auxiliary],
                    **config.fingerprint(), **common}
        file = None if directory is None else os.path.join(
            directory, f"seed_{seed}", name if task is None else f"{name}.{task}") + ".json"
        fits.append((seed, name, task, fit_tasks, config, settings, file,
                     _read_cache(file, settings)))

    progress = _Progress(len(fits), sum(f[-1] is None for f in fits), verbose)
    progress.say(f"compare: {len(fits)} fits ({len(fits) - progress.to_train} cached) over "
                 f"{len(seeds)} seeds, models selected on {selection_key(trained)} "
                 f"(validation)")
    loaded = {seeds[0]: first}
    records = {}
    for seed, name, task, fit_tasks, config, settings, file, record in fits:
        label = f"seed {seed} {name}" + (f" ({task})" if task else "")
        if record is None:
            if seed not in loaded:
                loaded = {seed: load(seed)}
            record = fit_once(config.build, loaded[seed], fit_tasks, weighting=config.weighting,
                              seed=seed, **common)
            record["settings"] = settings
            if file is not None:
                _write_cache(file, record)
            progress.step(label, record["train_seconds"])
        else:
            progress.step(label)
        records[(seed, name, task)] = record
    settings = {**common, "selected_on": selection_key(trained),
                "best_epochs": {f"seed_{seed}/{name}" + (f".{task}" if task else ""):
                                r["best_epoch"] for (seed, name, task), r in records.items()}}
    return _result(records, seeds, base.name, configurations, main, chosen, directions,
                   [t.name for t in trained if t.auxiliary], settings, confidence)


def _result(records, seeds, baseline, configurations, main, metrics, directions, auxiliary,
            settings, confidence):
    names = [t.name for t in main]

    def value(record, task):
        return float(record["test"].get(f"{task}_{metrics[task]}", float("nan")))

    scores = {baseline: {t: [value(records[(s, baseline, t)], t) for s in seeds] for t in names}}
    costs = {baseline: {
        "parameters": sum(records[(seeds[0], baseline, t)]["parameters"] for t in names),
        "train_seconds": [sum(records[(s, baseline, t)]["train_seconds"] for t in names)
                          for s in seeds],
        "latency_ms": [sum(records[(s, baseline, t)]["latency_ms"] for t in names)
                       for s in seeds]}}
    for config in configurations:
        rows = [records[(s, config.name, None)] for s in seeds]
        scores[config.name] = {t: [value(r, t) for r in rows] for t in names}
        costs[config.name] = {"parameters": rows[0]["parameters"],
                              "train_seconds": [r["train_seconds"] for r in rows],
                              "latency_ms": [r["latency_ms"] for r in rows]}
    return ComparisonResult(names, metrics, directions, seeds, scores, costs,
                            auxiliary=auxiliary, settings=settings, confidence=confidence)
