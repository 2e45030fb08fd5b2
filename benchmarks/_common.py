"""Helpers shared by the benchmark scripts: timing train steps, the machine line, BENCHMARKS.md.

The scripts, run as `python benchmarks/<name>.py`, import it as `_common`:
Python puts the running script's directory first on `sys.path`.
"""

from __future__ import annotations

import csv
import importlib.resources
import json
import os
import platform
import re
import time

__all__ = ["environment", "read_log", "time_steps", "wine_rows", "write_section"]


def time_steps(model, iterator, steps: int, step=None) -> float:
    """Seconds per step of `model`'s compiled train function (the body of `fit`).

    Runs `steps` consecutive steps on `iterator` and waits for the last one
    (reading its loss) before stopping the clock. Call
    `model.make_train_function()` and a few warm-up steps first, so that
    tracing is not timed. `step`: another compiled step to time instead,
    called as `step(iterator)`, that returns the logs.
    """
    step = model.train_function if step is None else step
    start = time.perf_counter()
    for _ in range(steps):
        logs = step(iterator)
    float(logs["loss"])  # Wait for the last step.
    return (time.perf_counter() - start) / steps


def environment() -> str:
    """`x86_64, 2 CPU cores, TensorFlow 2.x, Keras 3.x`: the machine line of a report."""
    import keras
    import tensorflow as tf

    return (f"{platform.machine() or platform.processor()}, {os.cpu_count()} CPU cores, "
            f"TensorFlow {tf.__version__}, Keras {keras.__version__}")


def write_section(path: str, heading: str, body: str) -> None:
    """Replaces the section `heading` of a Markdown file with `body`, or appends it.

    The section runs from the line that is exactly `heading` (e.g.
    `## Serving`) to the next level-2 heading (`## ...`) or the end of the
    file; its `###` subsections go with it. The file is replaced atomically
    (written next to it, then renamed), and created (`# Benchmarks`) if
    missing.

    Args:
        path: The Markdown file (`BENCHMARKS.md`).
        heading: The section's heading line, `## ` and a title.
        body: The new section, starting with `heading`.

    Raises:
        ValueError: `heading` is not a level-2 heading, or `body` does not
            start with it.
    """
    if not re.fullmatch(r"## \S.*", heading):
        raise ValueError(f"Expected a level-2 heading such as '## Serving'. Received: {heading!r}")
    if body.split("\n", 1)[0].rstrip() != heading:
        raise ValueError(
            f"Expected the section body to start with its heading {heading!r}. Received a "
            f"body starting with {body.split(chr(10), 1)[0]!r}")
    text = "# Benchmarks\n"
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            text = f.read()
    body = body.rstrip("\n") + "\n"
    found = re.search(rf"^{re.escape(heading)}[ \t]*$", text, re.M)
    if found is None:
        text = text.rstrip("\n") + "\n\n" + body
    else:
        following = re.search(r"^## ", text[found.end():], re.M)
        rest = "" if following is None else "\n" + text[found.end() + following.start():]
        text = text[:found.start()] + body + rest
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def read_log(path: str) -> list[dict]:
    """The rows of a JSON-lines run log (none if the file does not exist).

    Blank lines are skipped, and so is a line a kill cut off mid-write: the
    run it recorded is not in the log, so a resumed benchmark measures it again.
    """
    if not path or not os.path.exists(path):
        return []
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def wine_rows() -> list[list[str]]:
    """UCI Wine from scikit-learn's package data: 178 rows of 13 measurements and the
    cultivar (0, 1, 2), as text cells (nothing is downloaded)."""
    ref = importlib.resources.files("sklearn.datasets") / "data" / "wine_data.csv"
    lines = ref.read_text(encoding="utf-8").splitlines()
    return list(csv.reader(lines[1:]))  # the first line is "178,13,class_0,class_1,class_2"
