"""Input pipeline of a user's table against the training step that consumes it.

    python benchmarks/input_pipeline.py [--rows 60000] [--batch-size 256] [--rounds 3]
        [--caches none auto memory disk] [--write BENCHMARKS.md]

A generated table (a normal number with empty cells, a 3-value text column, a
whole-number category, an id; a multiclass, a regression and a binary target,
about 20 % of labels empty) is written as CSV, as 4 CSV files, as typed
Parquet and as all-text Parquet, and loaded with a `DataSpec` (one pass: statistics,
vocabularies, classes). Measured, on the same hard-sharing model ([64, 64]
trunk on `data.preprocessing()`):

* pipeline rate: rows/s of `data.dataset("train")` alone (read, parse,
  convert, shuffle, batch; prefetched), one epoch per round, after a first
  untimed epoch; without a cache (`none`: parsed every epoch), with the
  default `cache="auto"` (here a disk cache; for the 4 files one snapshot
  shard per file, read in a new order each epoch), with
  `cache="memory"` and with `cache="disk"` (later epochs read the converted
  rows from memory or from the files the first epoch wrote);
* step rate: rows/s the compiled training step consumes from batches already
  in memory (the FeatureSpace encodings run inside the model, so they are in
  the step: the model takes raw columns);
* slowed: `1 - t_memory / t_streamed` for the same number of steps, fed from
  the pipeline and from memory (rounds interleaved, medians): all the step
  time the pipeline costs, its CPU taken from the step's cores included;
* blocked (in an epoch after the first, and in a new dataset's first
  epoch): the share of a streamed epoch's step time spent blocked waiting
  for a batch (`IteratorGetNext` with no batch ready: what TF Profiler calls
  input-bound time on a CPU host), the target's "waiting" (< 5 %).
"""

from __future__ import annotations

import argparse
import glob
import itertools
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import _common  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import mtl_keras as mtl  # noqa: E402
from mtl_keras.data import DataSpec  # noqa: E402
from mtl_keras.data.tables.table_data import auto_cache  # noqa: E402

HEADING = "## Input pipeline (your own table)"


def write_table(directory: str, rows: int, seed: int = 0) -> dict[str, str]:
    """Writes the generated table; returns `{label: path}`.

    As CSV; as Parquet with typed columns (numbers as float64 or int64, empty
    cells as nulls: what pandas writes from a frame of numbers); and as Parquet
    whose every column is text, as in the CSV (its numbers parsed every epoch).
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    size = rng.normal(2.0, 1.0, rows)
    count = rng.integers(0, 5, rows)
    frame = pd.DataFrame({
        "row_id": np.arange(rows).astype(str),
        "size": np.where(rng.random(rows) < 0.1, "", np.round(size, 4).astype(str)),
        "color": np.array(["red", "green", "blue"])[rng.integers(0, 3, rows)],
        "count": count.astype(str),
        "kind": np.where(rng.random(rows) < 0.2, "",
                         np.array(["a", "b", "c"])[(count + (size > 2)) % 3]),
        "score": np.where(rng.random(rows) < 0.2, "",
                          np.round(3 * size + count + rng.normal(0, 0.1, rows), 4).astype(str)),
        "flag": np.where(size > 2, "yes", "no"),
    })
    paths = {label: os.path.join(directory, name) for label, name in (
        ("CSV", "table.csv"), ("CSV, 4 files", "part-*.csv"), ("Parquet", "table.parquet"),
        ("Parquet, all text", "text.parquet"))}
    frame.to_csv(paths["CSV"], index=False)
    for k, part in enumerate(np.array_split(np.arange(rows), 4)):
        frame.iloc[part].to_csv(os.path.join(directory, f"part-{k}.csv"), index=False)
    typed = frame.replace("", None)
    for column in ("size", "score"):
        typed[column] = pd.to_numeric(typed[column])
    typed["count"] = count
    typed.to_parquet(paths["Parquet"], index=False)
    frame.to_parquet(paths["Parquet, all text"], index=False)
    return paths


def spec(source: str) -> DataSpec:
    return DataSpec.from_dict({
        "source": source,
        "split": {"key": "row_id", "fractions": {"train": 0.9, "test": 0.1}},
        "targets": {"kind": None, "score": "regression", "flag": None},
        "features": {"size": None, "color": None, "count": "integer_categorical"}})


def pipeline_rate(dataset) -> tuple[float, int]:
    """`(rows/s, batches)` of one epoch of `dataset` alone."""
    start, rows, batches = time.perf_counter(), 0, 0
    for x, _ in dataset:
        rows += int(next(iter(x.values())).shape[0])
        batches += 1
    return rows / (time.perf_counter() - start), batches


def build(data):
    keras.utils.set_random_seed(0)
    model = mtl.build_hard_sharing(data.inputs(), mtl.backbones.mlp([64, 64]), data.tasks,
                                   preprocessing=data.preprocessing())
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.make_train_function()
    return model


class BlockedClock:
    """A compiled training step that also adds up the seconds it was blocked
    taking its batch from the iterator (`IteratorGetNext` with no batch
    ready: what TF Profiler calls input-bound time on a CPU host).

    The step is `model.train_step` on `iterator.get_next()` in one
    `tf.function`, as in `fit` (`steps_per_execution=1`), with a timestamp
    on each side of `get_next`.
    """

    def __init__(self, model):
        self.model = model
        self.blocked = tf.Variable(0.0, dtype=tf.float64, trainable=False)

        @tf.function
        def step(iterator):
            before = tf.timestamp()
            with tf.control_dependencies([before]):
                batch = iterator.get_next()
            with tf.control_dependencies(tf.nest.flatten(batch)):
                self.blocked.assign_add(tf.timestamp() - before)
            return model.train_step(batch)

        self.step = step

    def seconds(self, iterator, steps: int) -> tuple[float, float]:
        """`(seconds per step, seconds blocked per step)` over `steps` steps."""
        self.blocked.assign(0.0)
        seconds = _common.time_steps(self.model, iterator, steps, step=self.step)
        return seconds, float(self.blocked.numpy()) / steps


def blocked_share(clock: BlockedClock, dataset, steps: int, ready) -> float:
    """The share of `steps` training steps' time spent blocked waiting for a
    batch of `dataset`.

    Taking a batch that is ready costs time too (about 0.1 ms here); that
    cost, measured on `ready` (an iterator over prefetched batches held in
    memory) in the same round, is not counted as blocked.
    """
    iterator = iter(dataset)
    next(iterator)  # the first batch starts the pipeline's threads; not timed
    seconds, blocked = clock.seconds(iterator, steps)
    _, baseline = clock.seconds(ready, steps)
    return max(0.0, blocked - baseline) / seconds


def measure(data, batch_size: int, rounds: int, cache) -> dict:
    """Rates and waiting of the training split's pipeline (`cache` as `TableData.dataset`'s).

    One dataset object serves every round, as `fit` keeps one over its epochs:
    with `cache="memory"` the untimed first epoch fills the cache and the timed
    rounds are the epochs after it.
    """
    model = build(data)
    memory = data.dataset("train", batch_size, cache=False).take(32).cache().repeat()
    memory_it = iter(memory)
    _common.time_steps(model, memory_it, 40)  # trace, fill the cache, warm up
    # Batches always ready, behind a prefetch as the pipeline's are: the
    # baseline cost of taking a ready batch.
    ready = iter(data.dataset("train", batch_size, cache=False).take(32).cache().repeat()
                 .prefetch(tf.data.AUTOTUNE))
    clock = BlockedClock(model)
    clock.seconds(ready, 40)  # trace, fill the cache
    dataset = data.dataset("train", batch_size, cache=cache)
    pipeline_rate(dataset)  # the first epoch, untimed (fills a cache)
    rates, waits, blocked, first, step_rates = [], [], [], [], []
    for _ in range(rounds):
        rate, batches = pipeline_rate(dataset)
        rates.append(rate)
        steps = batches - 1  # the last batch is smaller
        streamed = iter(dataset)
        next(streamed)  # the first batch starts the pipeline's threads; not timed
        t_stream = _common.time_steps(model, streamed, steps - 1)
        t_memory = _common.time_steps(model, memory_it, steps - 1)
        waits.append(max(0.0, 1.0 - t_memory / t_stream))
        blocked.append(blocked_share(clock, dataset, steps - 1, ready))
        fresh = data.dataset("train", batch_size, cache=cache)  # its first epoch writes a cache
        first.append(blocked_share(clock, fresh, steps - 1, ready))
        step_rates.append(batch_size / t_memory)
    return {"pipeline": statistics.median(rates), "step": statistics.median(step_rates),
            "wait": statistics.median(waits), "waits": waits, "steps": steps,
            "blocked": statistics.median(blocked), "blockeds": blocked,
            "first": statistics.median(first), "firsts": first}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=60_000)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--caches", nargs="+", default=["none", "auto", "memory"],
                   choices=["none", "auto", "memory", "disk"],
                   help="The cache settings to measure (auto: the default).")
    p.add_argument("--write", default=None, help="Markdown file to update (BENCHMARKS.md).")
    args = p.parse_args(argv)
    caches = [False if c == "none" else c for c in args.caches]
    lines = []
    with tempfile.TemporaryDirectory() as directory:
        paths = write_table(directory, args.rows)
        for (label, path), cache in itertools.product(paths.items(), caches):
            start = time.perf_counter()
            data = spec(path).load()
            load = time.perf_counter() - start
            result = measure(data, args.batch_size, args.rounds, cache)
            mb = sum(os.path.getsize(f) for f in glob.glob(path)) / 2**20
            shown = cache or "none"
            if cache == "auto":  # what it chose for this table (one file: not shuffled parts)
                rows = data.spec.rows["train"]
                source = data.spec.reads()[0].source
                chosen = auto_cache(source, rows, 7) or "none"
                if chosen == "disk" and source.num_parts > 1:
                    chosen = "disk, one shard per file"
                shown = f"auto ({chosen})"
            line = (f"| {label} | {shown} | {mb:.1f} | {load:.1f} | "
                    f"{result['pipeline']:,.0f} | "
                    f"{result['step']:,.0f} | {result['pipeline'] / result['step']:.1f} | "
                    f"{100 * result['wait']:.1f} % | {100 * result['blocked']:.1f} % | "
                    f"{100 * result['first']:.1f} % |")
            print(line, "waits:", [f"{100 * w:.1f}%" for w in result["waits"]],
                  "blocked:", [f"{100 * w:.1f}%" for w in result["blockeds"]],
                  "first epochs:", [f"{100 * w:.1f}%" for w in result["firsts"]],
                  f"({result['steps']} steps)", flush=True)
            lines.append(line)
    command = (f"python benchmarks/input_pipeline.py --rows {args.rows} --batch-size "
               f"{args.batch_size} --rounds {args.rounds}"
               + ("" if args.caches == ["none", "auto", "memory"]
                  else " --caches " + " ".join(args.caches)))
    body = "\n".join([
        HEADING, "",
        f"`{command}` ({_common.environment()}; a machine shared with other jobs, load "
        f"average {os.getloadavg()[0]:.1f} at the end of the run, so the figures are "
        "indicative). A generated table of "
        f"{args.rows:,} rows (3 feature columns, 3 targets, empty cells), 90 % train by a "
        "hashed id; hard sharing, [64, 64] trunk, batch "
        f"{args.batch_size}; medians of {args.rounds} interleaved rounds.", "",
        "| source | cache | file MB | load s | pipeline rows/s | step rows/s | pipeline / step | "
        "step slowed by the pipeline | step blocked on input | blocked, first epoch |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|", *lines, "",
        "*source*: the same table as CSV, as 4 CSV files of a quarter of the rows each (a "
        "shuffled split of several files: read in a new order each epoch), as Parquet with "
        "typed columns (numbers as numbers, empty cells as nulls) and as Parquet whose "
        "columns are all text, as in the CSV. "
        "*pipeline*: `TableData.dataset('train')` alone over an epoch after the first (read, "
        "parse, fill missing cells, shuffle windows of 10,000 rows, batch; prefetched). "
        "*cache*: `none` (`cache=False`) parses the file every epoch; with `auto` (the "
        "default; it chose a disk cache for every table here, with one snapshot shard per "
        "file for the 4 files, read in a new order each epoch), `disk` or `memory` the "
        "epochs after the first read the converted rows from a temporary directory or from "
        "memory and only shuffle and batch them. *step*: the compiled "
        "training step on batches already in memory; the FeatureSpace encodings "
        "(normalization, lookups, one-hot) run inside the model, which takes raw columns. "
        "*slowed*: `1 - t_memory / t_streamed` over one epoch's steps fed from the pipeline "
        "and from memory, the median of the rounds: everything the pipeline costs the step, "
        "the CPU it takes from the step's two cores included. *blocked*: the share of a "
        "streamed epoch's step time spent blocked waiting for a batch (the host in "
        "`IteratorGetNext` with no batch ready, TF Profiler's input-bound time; target "
        "< 5 %), the median of the rounds; *first epoch*: the same in the first epoch of a "
        "new dataset (parsing, and writing a cache if it has one). *load*: the DataSpec "
        "pass (type inference sample, "
        "statistics, vocabularies, classes)."])
    if args.write:
        _common.write_section(args.write, HEADING, body)
    print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
