"""`mtl-keras demo`: does sharing help on the bundled penguins data, and what does it save?

1. **All tasks labelled**: over several seeds (a new split of the birds per
   seed), one single-task model per task against one hard-sharing model of
   the three tasks (species, sex, body mass); per task the test metric's mean
   and 95 % interval, the paired difference, its paired t-test and a verdict
   in plain words (helped / tied / lost), then what sharing saved
   (parameters, training time).
2. **Scarce labels**: the same, with one main task (default: sex) labelled
   on only a fraction of the training birds (default 10 %) and the two other
   tasks fully labelled and trained as auxiliary tasks; hard sharing with
   equal weights and with GCS (gradient-cosine gating of the auxiliary
   gradients) against the single-task model of the main task.
3. Trains one hard-sharing model of the three tasks on the first seed's
   split, prints its test metrics and saves it under `--out`.
4. Searches the task loss weights with KerasTuner and keeps equal weights
   unless the best trial beats them beyond seed-to-seed noise (`--no-tune`
   skips it).
5. Exports the model for TF Serving (SavedModel) and TFLite, verifies every
   artifact against the Keras model (`--no-export` skips it).

Every model is selected on the validation split (`val_task_loss_sum`, or
`val_main_task_loss_sum` with auxiliary tasks; best epoch restored); the test
split is only evaluated. The settings and the command repeating the run are
printed first. See `mtl_keras.commands._demo_comparison`.
"""

from __future__ import annotations

import os

from mtl_keras.commands import _args, _paths

__all__ = ["add_parser", "demo", "run"]

COMPARISONS = {"all_labelled": "comparison_all_labelled.json",
               "scarce_labels": "comparison_scarce_labels.json"}
DEFAULTS = {"seeds": 5, "epochs": 30, "trials": 6, "executions": 3}
QUICK = {"seeds": 2, "epochs": 1, "trials": 1, "executions": 2}  # no GCS, no search


def add_parser(subparsers):
    from mtl_keras.commands._demo_comparison import TASKS, DemoSettings

    default = DemoSettings()
    p = subparsers.add_parser(
        "demo", help="Does sharing help on the bundled penguins data? Paired comparisons over "
                     "seeds (all labelled; one task with few labels), then save and export.")
    p.add_argument("--out", default="mtl_keras_runs/demo",
                   help="Output directory (default: mtl_keras_runs/demo).")
    p.add_argument("--seeds", type=_args.positive_int, default=None,
                   help=f"Seeds per comparison, at least 2 (default: {DEFAULTS['seeds']}, or "
                        f"{QUICK['seeds']} with --quick).")
    p.add_argument("--seed", type=_args.non_negative_int, default=0,
                   help="First seed (default: 0); the saved model trains on its split.")
    p.add_argument("--epochs", type=_args.positive_int, default=None,
                   help=f"Epochs of every fit (default: {DEFAULTS['epochs']}, or "
                        f"{QUICK['epochs']} with --quick); the best validation epoch is kept.")
    p.add_argument("--scarce-task", choices=TASKS, default=default.scarce_task,
                   help=f"The task with few labels (default: {default.scarce_task}).")
    p.add_argument("--fraction", type=_args.positive_float, default=default.fraction,
                   help="Share of its training labels it keeps, in (0, 1] (default: "
                        f"{default.fraction:g}).")
    p.add_argument("--no-gcs", action="store_true",
                   help="Leave hard sharing with GCS out of the scarce-label comparison.")
    p.add_argument("--quick", action="store_true",
                   help="A smoke test: 2 seeds, 1 epoch, no GCS, no loss-weight search "
                        "(--trials N runs one, checked on 2 seeds), unless given.")
    p.add_argument("--trials", type=_args.positive_int, default=None,
                   help=f"Loss-weight search trials (default: {DEFAULTS['trials']}, or "
                        f"{QUICK['trials']} with --quick).")
    p.add_argument("--no-tune", action="store_true",
                   help="Skip the loss-weight search (the default with --quick).")
    p.add_argument("--no-export", action="store_true", help="Skip the export step.")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    from mtl_keras.commands._demo_comparison import DemoSettings

    base = QUICK if args.quick else DEFAULTS
    settings = DemoSettings(seeds=args.seeds or base["seeds"], first_seed=args.seed,
                            epochs=args.epochs or base["epochs"],
                            scarce_task=args.scarce_task, fraction=args.fraction,
                            gcs=not (args.no_gcs or args.quick))
    tune = not args.no_tune and (not args.quick or args.trials is not None)
    demo(out=args.out, settings=settings, tune=tune,
         trials=args.trials or base["trials"], executions=base["executions"],
         export=not args.no_export)
    return 0


def command_line(settings, out: str) -> str:
    """The `mtl-keras demo` command that repeats a run with `settings`."""
    return (f"mtl-keras demo --seed {settings.first_seed} --seeds {settings.seeds} --epochs "
            f"{settings.epochs} --scarce-task {settings.scarce_task} --fraction "
            f"{settings.fraction:g}{'' if settings.gcs else ' --no-gcs'} --out {out}")


def demo(out="mtl_keras_runs/demo", settings=None, verbose=1, tune=True, trials=6,
         executions=3, export=True):
    """Runs the demo; returns a dict of what it measured and made.

    Args:
        out: Output directory: `model.keras`, the two comparisons as JSON
            (`ComparisonResult.save`), `tune/` and `export/`.
        settings: A `DemoSettings` (default: `DemoSettings()`).
        verbose: 1 prints a progress line per fit of the comparisons, 0 not.
        tune: Run the loss-weight search.
        trials: Its number of trials.
        executions: Paired seeds on which the best trial must beat equal
            weights to be kept (`_weight_search.demo_search`).
        export: Export and verify the saved model.

    Returns:
        `{"settings", "all_labelled", "scarce_labels"}` (the two
        `ComparisonResult`s), `"verdicts"` (`{setting: [entry]}`, see
        `_demo_comparison.verdicts`), `"model"`, `"path"`, `"test"` (its test
        logs) and `"data"`; with `tune`, `"tuning"`; with `export`,
        `"exports"`.

    Raises:
        FileExistsError: An output of a previous run is in `out` (checked
            before any training; nothing is overwritten).
    """
    from mtl_keras.commands import _demo_comparison as study

    settings = study.DemoSettings() if settings is None else settings
    if not isinstance(settings, study.DemoSettings):
        raise TypeError(f"Expected settings to be a DemoSettings. Received: {settings!r}")
    path = os.path.join(out, "model.keras")
    _paths.check_output_dir(out, "--out")
    _paths.check_new_path(path, "--out", "model")
    for name in COMPARISONS.values():
        _paths.check_new_path(os.path.join(out, name), "--out", "comparison")
    if export:
        _paths.check_new_path(os.path.join(out, "export"), "--out", "export")
    if tune:
        _paths.check_new_path(os.path.join(out, "tune"), "--out", "search")

    import mtl_keras as mtl

    data = mtl.data.load_penguins(seed=settings.first_seed)
    _, kept, labelled = study.scarce_labels(data, settings.scarce_task, settings.fraction,
                                           settings.first_seed)
    print(f"Palmer penguins: {len(data.train)} train / {len(data.validation)} validation / "
          f"{len(data.test)} test birds; tasks {list(study.TASKS)}; the birds without a "
          "recorded sex are masked for that task only.")
    print(f"Settings: {settings.describe()}.")
    print(f"Repeat this run: {command_line(settings, out)}")
    result = {"settings": settings, "verdicts": {}}
    sections = {
        "all_labelled": "(a) All tasks labelled: single-task models vs one hard-sharing model",
        "scarce_labels": (
            f"(b) Scarce labels: {settings.scarce_task} keeps {100 * settings.fraction:g} % of "
            f"its training labels (seed {settings.first_seed}: {kept} of {labelled} birds; "
            "validation and test keep theirs), "
            f"{' and '.join(t for t in study.TASKS if t != settings.scarce_task)} keep all and "
            f"are auxiliary tasks; single-task {settings.scarce_task} vs hard sharing"
            + (" (equal weights, and GCS gating of the auxiliary gradients)" if settings.gcs
               else ""))}
    os.makedirs(out, exist_ok=True)
    for key, title in sections.items():
        print(f"\n== {title} ==", flush=True)
        comparison = study.run_setting(settings, scarce=key == "scarce_labels",
                                       verbose=verbose)
        print(study.report(comparison))
        comparison.save(os.path.join(out, COMPARISONS[key]))
        result[key] = comparison
        result["verdicts"][key] = study.verdicts(comparison)
    print("\n== Verdict ==")
    print(study.summary(result["all_labelled"], "(a) All labelled"))
    scarce = f"(b) {settings.scarce_task} on {100 * settings.fraction:g} % of its labels"
    print(study.summary(result["scarce_labels"], scarce))

    print(f"\n== The hard-sharing model of the three tasks (seed {settings.first_seed}'s "
          "split) ==")
    model, test = _train_model(data, settings)
    print("test: " + ", ".join(f"{t.name} {t.primary_metric} "
                               f"{test[f'{t.name}_{t.primary_metric}']:.4f}" for t in data.tasks))
    model.save(path)
    print(f"Saved the multi-task model: {path}")
    print(f"  reload: keras.saving.load_model({path!r})  |  "
          f"one head: model.task_model('species')")
    result.update(model=model, path=path, test=test, data=data)
    if tune:
        result["tuning"] = _tune(data, out, settings, trials, executions)
    if export:
        result["exports"] = _export(model, data, out)
    return result


def _train_model(data, settings):
    """Trains the saved model like a comparison fit (selected on validation); returns
    `(model, test logs)`."""
    import keras

    import mtl_keras as mtl

    keras.utils.set_random_seed(settings.first_seed)
    model = mtl.build_hard_sharing(data.inputs(), mtl.backbones.mlp(list(settings.units)),
                                   data.tasks, preprocessing=data.preprocessing())
    model.compile(optimizer=keras.optimizers.Adam(settings.learning_rate))
    stop = keras.callbacks.EarlyStopping(monitor="val_task_loss_sum", mode="min",
                                         patience=settings.epochs, restore_best_weights=True)
    model.fit(data.dataset("train", settings.batch_size),
              validation_data=data.dataset("validation", settings.batch_size),
              epochs=settings.epochs, callbacks=[stop], verbose=0)
    test = model.evaluate(data.dataset("test", 64), return_dict=True, verbose=0)
    return model, {k: float(v) for k, v in test.items()}


def _tune(data, out, settings, trials, executions):
    from mtl_keras.commands._weight_search import demo_search, format_comparison

    search_epochs = max(2, min(settings.epochs, 25))
    print(f"\n== Loss-weight search: {trials} trials x {search_epochs} epochs "
          "(KerasTuner RandomSearch, objective: Δm over equal weights on validation) ==")
    result = demo_search(data, epochs=search_epochs, max_trials=trials,
                         directory=os.path.join(out, "tune"), seed=settings.first_seed,
                         units=settings.units, verbose=0, executions=executions,
                         progress=lambda line: print(line, flush=True))
    print(format_comparison(result))
    return result


def _export(model, data, out):
    from mtl_keras import exporters

    print("\n== Export: SavedModel (TF Serving layout) and TFLite, verified ==")
    representative = data.dataset("train", 16, shuffle=False).map(lambda x, y: x)
    test = data.test
    reports = exporters.export_all(
        model, os.path.join(out, "export"), model_name="penguins",
        representative_data=representative, labelled_sample=(test.features, test.labels))
    print(exporters.format_reports(reports))
    return reports
