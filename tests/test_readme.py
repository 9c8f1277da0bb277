"""The README's Python snippets run verbatim, in order, in one namespace."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_the_two_line_example():
    blocks = python_blocks()
    assert blocks and "MIMOInput(ensemble_size=3)" in blocks[0]
    assert "MIMOHead(10, ensemble_size=3" in blocks[0]


def test_readme_python_snippets_run():
    namespace = {}
    for block in python_blocks():
        exec(compile(block, str(README), "exec"), namespace)
    assert namespace["members"].shape == (64, 3, 10)
