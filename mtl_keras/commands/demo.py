"""`mtl-keras demo`: the whole library on the bundled penguins data.

Trains the hard-sharing model on the three penguin tasks (species, sex, body
mass; the birds without a recorded sex are masked out of the sex task only),
trains one single-task model per task the same way, prints the per-task test
table and saves the multi-task model under `--out`.
"""

from __future__ import annotations

import os
import time

from mtl_keras.commands import _common


def add_parser(subparsers):
    p = subparsers.add_parser(
        "demo", help="Train multi-task vs single-task models on the bundled penguins data.")
    p.add_argument("--out", default="mtl_keras_runs/demo",
                   help="Output directory (default: mtl_keras_runs/demo).")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="A few epochs only (for smoke tests).")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    demo(out=args.out, epochs=3 if args.quick else args.epochs, seed=args.seed)
    return 0


def _fit(model, data, tasks, epochs, verbose):
    names = [t.name for t in tasks]
    model.fit(data.dataset("train", 32, tasks=names),
              validation_data=data.dataset("validation", 32, tasks=names),
              epochs=epochs, verbose=verbose)
    return model.evaluate(data.dataset("test", 64, tasks=names), return_dict=True, verbose=0)


def demo(out="mtl_keras_runs/demo", epochs=60, seed=0, verbose=None):
    """Runs the demo; returns `{"multi_task": logs, "single_task": {task: logs}, "path": ...}`."""
    import keras

    import mtl_keras as mtl

    if epochs < 1:
        raise ValueError(f"Expected epochs >= 1. Received: epochs={epochs}")
    path = os.path.join(out, "model.keras")
    if os.path.exists(path):
        raise FileExistsError(
            f"Expected a new output directory. Received: {path!r} already exists "
            "(pass another --out; nothing was overwritten)."
        )
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
    print(_common.format_table(["task", "metric", "single-task", "multi-task"], rows))
    print(f"parameters: single-task total {single_params}, multi-task {model.count_params()}; "
          f"training time: single-task {single_time:.1f}s, multi-task {multi_time:.1f}s")

    os.makedirs(out, exist_ok=True)
    model.save(path)
    print(f"\nSaved the multi-task model: {path}")
    print(f"  reload: keras.saving.load_model({path!r})  |  "
          f"one head: model.task_model('species')")
    return {"multi_task": multi, "single_task": single, "path": path, "model": model,
            "data": data}
