"""docs/affinity.md: the examples run as written, and the unrelated task ends up alone."""

import os
import re

import pytest

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs",
                   "affinity.md")


@pytest.mark.slow
def test_affinity_doc_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)   # the examples write PNG files
    with open(DOC, encoding="utf-8") as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    assert len(blocks) == 2
    namespace = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"docs/affinity.md:block{i}", "exec"), namespace)
    # The target that is pure noise is not grouped with the two related ones.
    assert namespace["grouping"].groups == (("a", "b"), ("noise",))
    assert (tmp_path / "affinity.png").stat().st_size > 0
    assert (tmp_path / "conflict.png").stat().st_size > 0
