"""Train one model from separate per-task corpora, mixed by `TaskSampler`.

Usage:
    python examples/per_task_datasets.py [--strategy temperature] [--epochs 30]

The penguin training split is cut into two corpora as if they came from two
field campaigns: one labelled only with the species (the first 60 birds), one
labelled only with the body mass (the other birds). `TaskSampler` mixes them
into batches where each bird carries the label of its own corpus and a masked
label (-1 or NaN) for the other task. The model is evaluated on the fully
labelled test split. Try `--strategy proportional`, `uniform`, `round_robin`,
`annealed` or `--mix batches` (single-task batches).
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

import mtl_keras as mtl  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--strategy", default="temperature",
                   choices=["round_robin", "uniform", "proportional", "temperature", "annealed"])
    p.add_argument("--temperature", type=float, default=2.0)
    p.add_argument("--mix", default="examples", choices=["examples", "batches"])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    data = mtl.data.load_penguins(seed=args.seed)
    tasks = [t for t in data.tasks if t.name in ("species", "body_mass")]
    x, y = data.train.features, data.train.labels
    corpora = {
        "species": tf.data.Dataset.from_tensor_slices(
            ({k: v[:60] for k, v in x.items()}, y["species"][:60])),
        "body_mass": tf.data.Dataset.from_tensor_slices(
            ({k: v[60:] for k, v in x.items()}, y["body_mass"][60:])),
    }
    sampler = mtl.data.TaskSampler(
        corpora, tasks, args.batch_size, strategy=args.strategy,
        temperature=args.temperature, mix=args.mix, shuffle_buffer=256,
        num_epochs=args.epochs if args.strategy == "annealed" else None, seed=args.seed)
    print(f"sizes {sampler.sizes}, p(task) = {sampler.probabilities().round(3).tolist()}, "
          f"{sampler.steps_per_epoch} batches per epoch")

    model = mtl.build_hard_sharing(data.inputs(), mtl.backbones.mlp([32, 32]), tasks,
                                   preprocessing=data.preprocessing())
    model.compile(optimizer="adam")
    model.fit(sampler.dataset(), epochs=args.epochs, steps_per_epoch=sampler.steps_per_epoch,
              verbose=0)
    test = model.evaluate(data.dataset("test", tasks=["species", "body_mass"]),
                          return_dict=True, verbose=0)
    print(f"test species accuracy {test['species_accuracy']:.3f}, "
          f"body mass MAE {test['body_mass_mae']:.3f} kg")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
