"""A tiny generated table for the CLI tests: several targets, some cells empty."""

import json
import os

import numpy as np

COLUMNS = ["row_id", "size", "color", "count", "kind", "score", "flag"]
TARGETS = ["kind", "score", "flag"]


def rows(n=60, seed=0):
    """`n` rows of raw cell texts; every 7th size, 5th kind and 4th score cell empty."""
    rng = np.random.default_rng(seed)
    colors = ["red", "green", "blue"]
    out = []
    for i in range(n):
        size = rng.normal(2.0, 1.0)
        color = colors[i % 3]
        count = int(rng.integers(0, 4))
        kind = ["a", "b", "c"][(i + (size > 2.0)) % 3]
        score = 3.0 * size + count + rng.normal(0.0, 0.1)
        flag = "yes" if size > 2.0 else "no"
        out.append([str(i), "" if i % 7 == 3 else f"{size:.4f}", color, str(count),
                    "" if i % 5 == 2 else kind, "" if i % 4 == 1 else f"{score:.4f}", flag])
    return out


def write_csv(path, n=60, seed=0, shards=1):
    """Writes the table as `shards` CSV files (`path` itself when one); returns the paths."""
    table = rows(n, seed)
    if shards == 1:
        paths = [str(path)]
    else:
        stem = str(path)[:-len(".csv")]
        paths = [f"{stem}-{k}.csv" for k in range(shards)]
    for k, p in enumerate(paths):
        with open(p, "w") as f:
            f.write(",".join(COLUMNS) + "\n")
            for row in table[k::shards]:
                f.write(",".join(row) + "\n")
    return paths


def data_section(source="table.csv"):
    """The run config's `data:` section for the table (split by hashing `row_id`)."""
    return {"source": source,
            "split": {"key": "row_id",
                      "fractions": {"train": 0.6, "validation": 0.2, "test": 0.2}},
            "targets": {"kind": None, "score": "regression", "flag": None},
            "features": {"size": None, "color": None, "count": "integer_categorical"}}


def write_config(directory, name="run.json", out="run", **fields):
    """Writes `table.csv` and a run config using it into `directory`; returns the config path."""
    write_csv(os.path.join(directory, "table.csv"))
    config = {"data": data_section(), "epochs": 1, "batch_size": 16,
              "backbone": {"type": "mlp", "units": [8]},
              "out": os.path.join(str(directory), out), **fields}
    path = os.path.join(str(directory), name)
    with open(path, "w") as f:
        json.dump(config, f)
    return path
