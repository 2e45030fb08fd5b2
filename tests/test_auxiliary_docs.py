"""docs/auxiliary.md: every block runs as written and prints what the page says."""

import os
import re

import pytest

DOC = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "auxiliary.md")


@pytest.mark.slow   # three fits of gradient methods: 80 s on the shared, loaded 2-core machine
def test_every_block_runs_and_prints_what_the_page_says(capsys):
    text = open(DOC, encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 3
    namespace = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"docs/auxiliary.md:block{i}", "exec"), namespace)
    assert capsys.readouterr().out.splitlines() == [
        "['val_main_task_loss_sum', 'val_task_loss_sum']",
        "1.0 True",
        "10.0",
        "['serving_default', 'target']",
    ]
    # The page's claims about the run: the helper is logged and weighted, the
    # main task's weight is 1 whenever it has labels.
    model = namespace["model"]
    assert type(model.weighting).__name__ == "OLAux"
    assert int(model.weighting.step.numpy()) == 2 * 12         # 384 rows / 32, 2 epochs
