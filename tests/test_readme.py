"""The README's Python quickstart runs as written."""

import os
import re

README = os.path.join(os.path.dirname(__file__), os.pardir, "README.md")


def test_quickstart_runs(tmp_path, monkeypatch, capsys):
    text = open(README, encoding="utf-8").read()
    block = re.search(r"## Quickstart\n\n```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md:quickstart", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("['body_mass_loss', 'body_mass_mae'")
    assert printed[2] == "(52, 3)"
    assert (tmp_path / "penguins.keras").is_file()


def test_readme_opens_with_the_two_commands():
    text = open(README, encoding="utf-8").read()
    first_block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    assert "pip install . && mtl-keras demo" in first_block
    assert 'pip install -e ".[test]" && pytest' in first_block
    ci = open(os.path.join(os.path.dirname(README), ".ci", "run"), encoding="utf-8").read()
    assert 'pip install -e ".[test]"' in ci and "\npytest" in ci
