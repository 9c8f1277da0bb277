"""Loads the example scripts (they are scripts, not a package) by path, without touching sys.path."""

import pathlib

import pytest

from tests.testing import load_module_from_file

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def load_example(name):
    """Imports examples/<name>.py once per process (absl flags register once)."""
    return load_module_from_file(name, EXAMPLES / f"{name}.py")


@pytest.fixture
def example():
    return load_example
