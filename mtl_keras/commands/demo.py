"""`mtl-keras demo`: the whole library on the bundled penguins data.

1. Trains the hard-sharing model on the three penguin tasks (species, sex,
   body mass; the birds without a recorded sex are masked out of the sex task
   only), trains one single-task model per task the same way, prints the
   per-task test table and saves the multi-task model under `--out`.
2. Searches the task loss weights with KerasTuner (objective: Δm over the
   equal-weights model on validation) and prints the tuned weights next to
   equal weights with their test metrics (`--no-tune` skips it).
3. Exports the model for TF Serving (SavedModel) and TFLite (float32, float16,
   dynamic-range, int8), verifies every artifact against the Keras model and
   prints the verification table and artifact sizes (`--no-export` skips it).
"""

from __future__ import annotations

import os
import time

from mtl_keras._tables import format_table
from mtl_keras.commands import _args, _common, _paths

__all__ = ["add_parser", "demo", "run"]


def add_parser(subparsers):
    p = subparsers.add_parser(
        "demo", help="Train multi-task vs single-task models on the bundled penguins data.")
    p.add_argument("--out", default="mtl_keras_runs/demo",
                   help="Output directory (default: mtl_keras_runs/demo).")
    p.add_argument("--epochs", type=_args.positive_int, default=None,
                   help="Training epochs (default: 60, or 3 with --quick; the search uses "
                        "2 to 25).")
    p.add_argument("--seed", type=_args.non_negative_int, default=0)
    p.add_argument("--quick", action="store_true",
                   help="3 epochs and 2 search trials unless given (a smoke test).")
    p.add_argument("--trials", type=_args.positive_int, default=None,
                   help="Loss-weight search trials (default: 6, or 2 with --quick).")
    p.add_argument("--no-tune", action="store_true", help="Skip the loss-weight search.")
    p.add_argument("--no-export", action="store_true", help="Skip the export step.")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    epochs = args.epochs or (3 if args.quick else 60)
    trials = args.trials or (2 if args.quick else 6)
    demo(out=args.out, epochs=epochs, seed=args.seed, tune=not args.no_tune, trials=trials,
         export=not args.no_export)
    return 0


def _fit(model, data, tasks, epochs, verbose):
    names = [t.name for t in tasks]
    model.fit(data.dataset("train", 32, tasks=names),
              validation_data=data.dataset("validation", 32, tasks=names),
              epochs=epochs, verbose=verbose)
    return model.evaluate(data.dataset("test", 64, tasks=names), return_dict=True, verbose=0)


def demo(out="mtl_keras_runs/demo", epochs=60, seed=0, verbose=None, tune=True, trials=6,
         export=True):
    """Runs the demo; returns `{"multi_task": logs, "single_task": {task: logs}, "path": ...}`.

    With `tune`, the result also has `"tuning"` (see `_weight_search.demo_search`);
    with `export`, `"exports"` (a list of `mtl_keras.exporters.ArtifactReport`).
    """
    import keras

    import mtl_keras as mtl
    from mtl_keras._validators import check_int

    check_int(epochs, "epochs", min_value=1)
    path = os.path.join(out, "model.keras")
    _paths.check_output_dir(out, "--out")
    _paths.check_new_path(path, "--out", "model")
    if export:
        _paths.check_new_path(os.path.join(out, "export"), "--out", "export")
    if tune:
        _paths.check_new_path(os.path.join(out, "tune"), "--out", "search")
    verbose = _common.verbosity() if verbose is None else verbose
    data = mtl.data.load_penguins(seed=seed)
    n_unlabelled = int((data.train.labels["sex"] < 0).sum())
    print(f"Palmer penguins: {len(data.train)} train / {len(data.validation)} validation / "
          f"{len(data.test)} test birds; tasks {[t.name for t in data.tasks]}; "
          f"{n_unlabelled} training birds have no sex label (masked for that task only).")

    def make(tasks):
        model = mtl.build_hard_sharing(data.inputs(), mtl.backbones.mlp([64, 64]), tasks,
                                       preprocessing=data.preprocessing())
        model.compile(optimizer=keras.optimizers.Adam(0.01))
        return model

    print("\n== Multi-task model (hard sharing, equal weights) ==")
    keras.utils.set_random_seed(seed)
    t0 = time.perf_counter()
    model = make(data.tasks)
    multi = _fit(model, data, data.tasks, epochs, verbose)
    multi_time = time.perf_counter() - t0

    single = {}
    single_params = 0
    t0 = time.perf_counter()
    for task in data.tasks:
        print(f"\n== Single-task model: {task.name} ==")
        keras.utils.set_random_seed(seed)
        st = make([task])
        single[task.name] = _fit(st, data, [task], epochs, verbose)
        single_params += st.count_params()
    single_time = time.perf_counter() - t0

    rows = []
    for task in data.tasks:
        metric = f"{task.name}_{task.primary_metric}"
        rows.append([task.name, task.primary_metric, single[task.name][metric], multi[metric]])
    print("\n== Test split ==")
    print(format_table(["task", "metric", "single-task", "multi-task"], rows))
    print(f"parameters: single-task total {single_params}, multi-task {model.count_params()}; "
          f"training time: single-task {single_time:.1f}s, multi-task {multi_time:.1f}s")

    os.makedirs(out, exist_ok=True)
    model.save(path)
    print(f"\nSaved the multi-task model: {path}")
    print(f"  reload: keras.saving.load_model({path!r})  |  "
          f"one head: model.task_model('species')")
    result = {"multi_task": multi, "single_task": single, "path": path, "model": model,
              "data": data}
    if tune:
        result["tuning"] = _tune(data, out, epochs, trials, seed, verbose)
    if export:
        result["exports"] = _export(model, data, out)
    return result


def _tune(data, out, epochs, trials, seed, verbose):
    from mtl_keras.commands._weight_search import demo_search, format_comparison

    search_epochs = max(2, min(epochs, 25))
    print(f"\n== Loss-weight search: {trials} trials x {search_epochs} epochs "
          "(KerasTuner RandomSearch, objective: Δm over equal weights on validation) ==")
    result = demo_search(data, epochs=search_epochs, max_trials=trials,
                         directory=os.path.join(out, "tune"), seed=seed, units=(64, 64),
                         verbose=0, progress=lambda line: print(line, flush=True))
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
