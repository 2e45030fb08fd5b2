"""docs/extending.md: the worked examples (two methods, a step observer) run as written."""

import os
import re

import keras

DOC = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "extending.md")


def test_every_block_runs_and_prints_what_the_page_says(capsys):
    text = open(DOC, encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 4
    namespace = {}
    keras.saving.get_custom_objects().pop("my_methods>LossProportional", None)
    keras.saving.get_custom_objects().pop("my_methods>ProjectSmaller", None)
    for i, block in enumerate(blocks):
        exec(compile(block, f"docs/extending.md:block{i}", "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        "[0.5, 1.5]",
        "[-0.2, 2.4]",
        "LossProportional ['a_weight', 'b_weight']",
        "ProjectSmaller ['a_weight', 'b_weight']",
        "96",
    ]


def test_the_examples_survive_saving(tmp_path):
    text = open(DOC, encoding="utf-8").read()
    namespace = {}
    for block in re.findall(r"```python\n(.*?)```", text, re.S)[:2]:
        exec(block, namespace)
    rule = namespace["LossProportional"](floor=0.01)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(rule))
    assert type(restored).__name__ == "LossProportional" and restored.floor == 0.01
    rule = namespace["ProjectSmaller"](mode="representation")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(rule))
    assert restored.mode == "representation"
