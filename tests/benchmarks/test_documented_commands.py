"""Every benchmark command (`python -m benchmarks.<script> ...`, run from the
repository root) written in README.md and docs/results.md parses with its flags."""

import importlib
import pathlib
import re
import shlex

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
COMMAND = re.compile(r"python -m benchmarks\.(\w+)([^\n`]*)")


def documented_commands():
    for doc in ("README.md", "docs/results.md"):
        for script, rest in COMMAND.findall((ROOT / doc).read_text()):
            rest = rest.replace("\\", " ")
            yield pytest.param(script, rest, id=f"{doc}:{script}{rest[:40]}")


def test_the_documents_name_every_benchmark_script():
    scripts = {script for script, _ in (p.values for p in documented_commands())}
    assert scripts >= {"cost", "cifar10_quality", "cifar10_capacity_sweep"}


@pytest.mark.parametrize("script,rest", list(documented_commands()))
def test_documented_command_parses(script, rest):
    module = importlib.import_module(f"benchmarks.{script}")
    argv = shlex.split(rest.replace("<", "'<").replace(">", ">'"))
    module.parser().parse_args(argv)
