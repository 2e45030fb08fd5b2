"""Draws the README's figures on the penguin tasks.

* `docs/images/weights.png`: task weights and losses over training with
  uncertainty weighting (`mtl.plotting.plot_training`);
* `docs/images/pareto.png`: the trials of a small loss-weight search over
  species accuracy, sex accuracy and body-mass MAE, Pareto front highlighted
  (`LossWeightTuner.plot`).

    python examples/readme_figures.py [--out docs/images] [--epochs 40] [--trials 10]
"""

import argparse
import os
import tempfile

import keras

import mtl_keras as mtl
from mtl_keras.tuning import LossWeightHyperModel, LossWeightTuner


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs/images")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--trials", type=int, default=10)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    data = mtl.data.load_penguins()

    keras.utils.set_random_seed(0)
    model = mtl.build_hard_sharing(data.inputs(), mtl.backbones.mlp([32, 32]), data.tasks,
                                   preprocessing=data.preprocessing())
    model.compile(optimizer=keras.optimizers.Adam(0.01), weighting="uncertainty")
    history = model.fit(data.dataset("train"), validation_data=data.dataset("validation"),
                        epochs=args.epochs, verbose=0)
    print(mtl.plotting.plot_training(history, os.path.join(args.out, "weights.png"),
                                     title="Uncertainty weighting on the penguin tasks"))

    def build_fn(hp, weights):
        model = mtl.build_hard_sharing(data.inputs(), mtl.backbones.mlp([32, 32]), data.tasks,
                                       preprocessing=data.preprocessing())
        model.compile(optimizer=keras.optimizers.Adam(0.01), weighting=weights)
        return model

    hypermodel = LossWeightHyperModel(build_fn, data.tasks, objective="pareto", seed=0)
    tuner = LossWeightTuner(hypermodel, max_trials=args.trials, directory=tempfile.mkdtemp(),
                            overwrite=True)
    tuner.search(data.dataset("train"), validation_data=data.dataset("validation"),
                 epochs=args.epochs // 2, verbose=0)
    tuner.summary()
    print(tuner.plot(os.path.join(args.out, "pareto.png")))


if __name__ == "__main__":
    main()
