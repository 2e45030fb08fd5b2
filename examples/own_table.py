"""Your own table, end to end: CSV -> data spec -> train -> evaluate -> predict from raw rows.

Usage:
    python examples/own_table.py [--out own_table_run] [--epochs 40]

The table is the UCI Wine data: 178 wines from three cultivars of one Italian
region, 13 chemical measurements each (Forina et al., PARVUS, 1988; Aeberhard &
Forina, "Wine", UCI Machine Learning Repository, 1992,
doi:10.24432/C5PC7J; licence CC BY 4.0). It ships inside scikit-learn
(`sklearn/datasets/data/wine_data.csv`, installed with KerasTuner's Bayesian
extra that mtl_keras depends on): nothing is downloaded.

The example writes it out as a user's CSV would look (named columns, the
cultivar as text, a `sample_id`), then asks for three related targets from the
ten routine measurements: the cultivar (multiclass, text labels), and two
costlier phenolic and colour assays, `flavanoids` and `color_intensity`
(regression). Everything else comes from the spec: feature types and target
kinds are inferred, the split is a hash of `sample_id`, the normalization and
vocabularies are computed in one pass and written to `data_spec.json` next to
the model, which is then reloaded to predict the tasks of one raw row.
"""

from __future__ import annotations

import argparse
import csv
import importlib.resources
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import mtl_keras as mtl  # noqa: E402
from mtl_keras.data import DataSpec  # noqa: E402

COLUMNS = ["alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols",
           "flavanoids", "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
           "od280_od315", "proline"]

# The run config's `data:` section, as a user would write it (YAML or JSON).
DATA_CONFIG = {
    "source": "wine.csv",
    "split": {"key": "sample_id", "fractions": {"train": 0.7, "validation": 0.15,
                                                "test": 0.15}},
    "targets": {"cultivar": None, "flavanoids": "regression", "color_intensity": "regression"},
    "exclude": ["sample_id", "total_phenols", "od280_od315"],  # near-copies of the assays
}


def write_wine_csv(path: str) -> int:
    """Writes the packaged Wine table as a CSV with a header; returns the row count."""
    ref = importlib.resources.files("sklearn.datasets") / "data" / "wine_data.csv"
    lines = ref.read_text(encoding="utf-8").splitlines()
    rows = list(csv.reader(lines[1:]))  # the first line is "178,13,class_0,class_1,class_2"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["sample_id", *COLUMNS, "cultivar"])
        for i, row in enumerate(rows):
            writer.writerow([i, *row[:13], f"cultivar_{int(row[13]) + 1}"])
    return len(rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="own_table_run", help="directory for the CSV and the model")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=16)
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    n = write_wine_csv(os.path.join(args.out, "wine.csv"))
    print(f"wrote {n} rows to {os.path.join(args.out, 'wine.csv')}")

    # 1. Spec -> data: one pass resolves types, statistics, task kinds and classes.
    data = DataSpec.from_dict(DATA_CONFIG, base_dir=args.out).load()
    print("rows per split:", data.spec.rows)
    print("features:", ", ".join(f"{f.column} ({f.type})" for f in data.features))
    print("tasks:", data.tasks, "| cultivar classes:", data.targets[0].classes)

    # 2. A model that takes the raw columns: the FeatureSpace encodings are in it.
    keras.utils.set_random_seed(0)
    model = mtl.build_hard_sharing(data.inputs(), mtl.backbones.mlp([32, 32]), data.tasks,
                                   preprocessing=data.preprocessing())
    model.compile(optimizer=keras.optimizers.Adam(0.01), weighting="uncertainty")
    model.fit(data.dataset("train", args.batch_size),
              validation_data=data.dataset("validation", args.batch_size),
              epochs=args.epochs, validation_freq=10, verbose=0)

    # 3. Per-task evaluation on the test split.
    scores = model.evaluate(data.dataset("test", args.batch_size), return_dict=True, verbose=0)
    print(f"\n{'task':<16}{'metric':<10}{'test':>8}")
    for task in data.tasks:
        for metric in task.metrics:
            key = f"{task.name}_{metric}"
            print(f"{task.name:<16}{metric:<10}{scores[key]:>8.3f}")

    # 4. The model and its resolved spec, side by side; reloaded to predict raw rows.
    model_path = os.path.join(args.out, "wine.keras")
    model.save(model_path)
    spec_path = data.save_spec(os.path.join(args.out, "data_spec.json"))
    spec = DataSpec.read(spec_path)
    served = spec.load(check=False)  # nothing is read: the JSON holds the state
    reloaded = keras.saving.load_model(model_path, safe_mode=True)
    row = {"alcohol": 13.2, "malic_acid": 1.78, "ash": 2.14, "alcalinity_of_ash": 11.2,
           "magnesium": 100, "nonflavanoid_phenols": 0.26, "proanthocyanins": 1.28, "hue": 1.05,
           "proline": 1050}
    request = {f.input: tf.constant([[row[f.column]]], f.input_dtype) for f in served.features}
    print("\nrequest (raw columns):", json.dumps(row))
    prediction = reloaded.predict(request, verbose=0)
    probs = prediction["cultivar"][0]
    best = int(probs.argmax())
    print(f"cultivar: {served.targets[0].classes[best]} (p={probs[best]:.2f}), "
          f"flavanoids: {prediction['flavanoids'][0, 0]:.2f}, "
          f"color_intensity: {prediction['color_intensity'][0, 0]:.2f}")
    print("(the second wine of the table: cultivar_1, flavanoids 2.76, color intensity 4.38)")
    print(f"model: {model_path}\nspec:  {spec_path}")


if __name__ == "__main__":
    main()
