"""Loads the example scripts (they are scripts, not a package) by path."""

import importlib.util
import pathlib
import sys

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def load_example(name):
    """Imports examples/<name>.py once per process (absl flags register once)."""
    if name in sys.modules:
        return sys.modules[name]
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def example():
    return load_example


@pytest.fixture
def tiny_npz(tmp_path):
    """A CIFAR-10-shaped npz copy: 5 x 40 train, 30 test random images."""
    rng = np.random.default_rng(0)
    d = tmp_path / "npz"
    d.mkdir()
    for k in range(5):
        np.savez(d / f"train_{k}.npz", x=rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8),
                 y=rng.integers(0, 10, 40).astype(np.uint8))
    np.savez(d / "test.npz", x=rng.integers(0, 256, (30, 32, 32, 3), dtype=np.uint8),
             y=rng.integers(0, 10, 30).astype(np.uint8))
    return str(d)
