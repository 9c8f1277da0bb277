"""Shared fixtures: small models and data that every backend can train fast."""

import os
import pathlib

import numpy as np
import pytest

# XLA (JAX, and TensorFlow's jit-compiled steps) compiling cheaply: without
# LLVM's optimization passes and with the classic CPU emitters instead of the
# fusion emitters. Compiling dominates for the tests' tiny models
# (docs/backends.md#test-tiers). A flag set by the caller wins.
_CHEAP_XLA = {
    "xla_backend_optimization_level": "0",
    "xla_llvm_disable_expensive_passes": "true",
    "xla_cpu_use_fusion_emitters": "false",
}
for _flag, _value in _CHEAP_XLA.items():
    if _flag not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --{_flag}={_value}".strip()

ROOT = pathlib.Path(__file__).resolve().parents[1]

import keras  # noqa: E402  (after XLA_FLAGS: the backends read it when they start)

import keras_mimo  # noqa: E402
from tests.testing import load_module_from_file  # noqa: E402

BACKEND = keras.backend.backend()

# The repository's benchmarks package, imported from its folder (tests.testing.load_module_from_file):
# a test's `from benchmarks import cost` then finds it while `keras_mimo` stays the installed wheel.
load_module_from_file("benchmarks", ROOT / "benchmarks" / "__init__.py")


def pytest_addoption(parser):
    parser.addoption(
        "--run_large", action="store_true", default=False, help="also run the large tier (tests marked `large`)"
    )
    parser.addoption(
        "--large_backend",
        default=None,
        help="run the backend-independent large tests only under this KERAS_BACKEND "
        "(those marked `large(backends=...)` run under their own backends)",
    )


def pytest_collection_modifyitems(config, items):
    """The two tiers: tests marked `large` are skipped unless asked for.

    `--run_large` or a `-m` expression naming `large` runs them; a large test
    marked `large(backends=("torch",))` concerns those backends only, and with
    `--large_backend=B` the backend-independent ones run under `B` alone (the
    README's test command runs them once, not once per backend).
    """
    asked = config.getoption("--run_large") or "large" in (config.getoption("markexpr") or "")
    only_on = config.getoption("--large_backend")
    for item in items:
        markers = list(item.iter_markers("large"))
        if not markers:
            continue
        backends = {b for marker in markers for b in marker.kwargs.get("backends", ())}
        if not asked:
            reason = "large tier: run with --run_large (or -m large)"
        elif backends and BACKEND not in backends:
            reason = f"concerns the {'/'.join(backends)} backend"
        elif not backends and only_on and BACKEND != only_on:
            reason = f"backend-independent large test: runs under {only_on} (--large_backend)"
        else:
            continue
        item.add_marker(pytest.mark.skip(reason=reason))


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {BACKEND}, keras_mimo from {keras_mimo.__file__}"


@pytest.fixture(autouse=True)
def _reset_keras_state():
    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")
    # Without Python's garbage collection (`free_memory=False`): a full
    # collection after every test cost 1.9-2.3 s per teardown on a shared
    # 2-core machine; Python's own generational collector still runs.
    keras.backend.clear_session(free_memory=False)


def build_mlp_mimo(
    ensemble_size=2,
    input_dim=4,
    classes=4,
    hidden=32,
    activation="softmax",
    **model_kwargs,
):
    """A small MLP as a MIMOModel: `(N, input_dim)` -> `(N, classes)`."""
    inputs = keras.Input((input_dim,))
    x = keras_mimo.MIMOInput(ensemble_size)(inputs)
    x = keras.layers.Dense(hidden, activation="relu")(x)
    outputs = keras_mimo.MIMOHead(classes, ensemble_size, activation=activation)(x)
    return keras_mimo.MIMOModel(inputs, outputs, **model_kwargs)


def build_cnn_mimo(ensemble_size=3, **model_kwargs):
    """A small CNN with batch norm as a MIMOModel on (8, 8, 3) images."""
    inputs = keras.Input((8, 8, 3))
    x = keras_mimo.MIMOInput(ensemble_size)(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras_mimo.MIMOHead(5, ensemble_size, activation="softmax")(x)
    return keras_mimo.MIMOModel(inputs, outputs, **model_kwargs)


def readable_labels_data(n=512, input_dim=4, seed=0):
    """Data whose label is readable from the input: argmax of a noisy one-hot."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, input_dim, size=n)
    x = np.eye(input_dim, dtype="float32")[y] + rng.normal(0, 0.1, (n, input_dim))
    return x.astype("float32"), y.astype("int32")


@pytest.fixture
def mlp_mimo():
    return build_mlp_mimo


@pytest.fixture
def cnn_mimo():
    return build_cnn_mimo


@pytest.fixture
def readable_data():
    return readable_labels_data


@pytest.fixture
def image_data():
    rng = np.random.default_rng(1)
    x = rng.random((40, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 5, 40).astype("int32")
    return x, y


@pytest.fixture
def tiny_npz(tmp_path):
    """A CIFAR-10-shaped npz copy: 5 x 40 train, 30 test random images."""
    rng = np.random.default_rng(0)
    d = tmp_path / "npz"
    d.mkdir()
    for k in range(5):
        np.savez(
            d / f"train_{k}.npz",
            x=rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8),
            y=rng.integers(0, 10, 40).astype(np.uint8),
        )
    np.savez(
        d / "test.npz",
        x=rng.integers(0, 256, (30, 32, 32, 3), dtype=np.uint8),
        y=rng.integers(0, 10, 30).astype(np.uint8),
    )
    return str(d)
