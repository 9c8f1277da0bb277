"""The README's Python snippets run verbatim, each alone in an empty namespace."""

import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_the_two_line_example():
    blocks = python_blocks()
    assert blocks and "MIMOInput(ensemble_size=3)" in blocks[0]
    assert "MIMOHead(10, ensemble_size=3" in blocks[0]


@pytest.mark.large  # the README's snippets run end to end (once, under the large tier's backend)
@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_python_snippet_runs_alone(index):
    namespace = {}
    exec(compile(python_blocks()[index], f"{README}:snippet[{index}]", "exec"), namespace)
    if index == 0:
        assert namespace["members"].shape == (64, 3, 10)


def test_readme_opens_with_a_short_summary_and_the_two_commands():
    text = README.read_text()
    summary = text.split("\n## ", 1)[0]
    assert len(summary.splitlines()) <= 10
    assert text.index("## Two commands") < text.index("## What was measured")
    assert "bash scripts/run_tests.sh" in text
