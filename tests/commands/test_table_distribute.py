"""A table config under MultiWorkerMirroredStrategy: files sharded by worker."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from mtl_keras.data import DataSpec
from tests._ports import free_ports
from tests.commands._table import data_section, write_csv


def _spec(tmp_path):
    paths = write_csv(tmp_path / "table.csv", n=64, shards=4)
    section = data_section()
    del section["source"], section["split"]
    return {**section, "train": "table-*.csv", "test": os.path.basename(paths[0])}, paths


def test_each_worker_reads_its_own_files(tmp_path):
    section, paths = _spec(tmp_path)
    data = DataSpec.from_dict(section, base_dir=str(tmp_path)).load()
    ids = {}
    for index in range(2):
        ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=index,
                                         num_replicas_in_sync=2)
        ds = data.dataset("train", 16, shuffle=False, input_context=ctx)
        sizes = [x["size"].shape[0] for x, _ in ds]
        assert sizes == [8, 8, 8, 8]  # per-replica batches of 16 / 2, 32 rows per worker
        ids[index] = {round(float(v), 4) for x, _ in ds for v in x["size"].numpy().ravel()}
        assert ds.options().experimental_distribute.auto_shard_policy == \
            tf.data.experimental.AutoShardPolicy.OFF
    # Worker 0 reads table-0 and table-2 (every second file), worker 1 the others.
    by_file = []
    for path in paths:
        rows = [line.split(",") for line in open(path).read().splitlines()[1:]]
        by_file.append({round(float(r[1]), 4) if r[1] else None for r in rows})
    fill = data.spec.features[0].fill_value
    for index, files in ((0, (0, 2)), (1, (1, 3))):
        expected = {v if v is not None else round(fill, 4) for f in files for v in by_file[f]}
        assert ids[index] == expected


def test_fewer_files_than_workers_shards_batches(tmp_path):
    write_csv(tmp_path / "one.csv", n=40)
    section = {**data_section(), "source": "one.csv"}
    data = DataSpec.from_dict(section, base_dir=str(tmp_path)).load()
    source = data.spec.source
    batches = [list(source.raw_dataset(["row_id"], 8, shard=(2, i)).as_numpy_iterator())
               for i in range(2)]
    ids = [[int(v) for b in part for v in b["row_id"]] for part in batches]
    assert ids[0] == list(range(0, 8)) + list(range(16, 24)) + list(range(32, 40))
    assert ids[1] == list(range(8, 16)) + list(range(24, 32))
    with pytest.raises(ValueError, match=r"Expected shard=\(num_shards, index\) with 0 <= "
                                         r"index < num_shards. Received: shard=\(2, 2\)"):
        source.raw_dataset(["row_id"], 8, shard=(2, 2))


@pytest.mark.slow
def test_the_same_config_trains_on_two_workers(tmp_path):
    section, _ = _spec(tmp_path)
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"data": section, "epochs": 2, "batch_size": 16,
                                  "backbone": {"type": "mlp", "units": [8]},
                                  "weighting": "uncertainty", "out": str(tmp_path / "run")}))
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(2)]}
    workers = []
    for index in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}))
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "mtl_keras.cli", "train", "--config", str(config)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=str(tmp_path)))
    results = []
    try:
        for worker in workers:
            out, err = worker.communicate(timeout=300)
            results.append((worker.returncode, out, err[-3000:]))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    for code, out, err in results:
        assert code == 0, err
        assert "on 2 workers" in out
    # One model, written once (by the chief); both workers computed the same test metrics.
    assert sorted(os.listdir(tmp_path / "run")) == ["data_spec.json", "model.keras"]
    assert "saved model" in results[0][1] and "saved model" not in results[1][1]
    tables = [out[out.index("metric "):out.index("saved") if "saved" in out else None].strip()
              for _, out, _ in results]
    assert tables[0] == tables[1]
    values = [float(line.split()[-1]) for line in tables[0].splitlines()[2:]]
    assert values and all(np.isfinite(values))
