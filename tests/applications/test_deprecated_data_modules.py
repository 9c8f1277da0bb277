"""The 0.1.0 paths `keras_mimo.applications.cifar_data` / `tfds_loading`: deprecated shims until 0.3.0."""

import importlib
import inspect
import sys
import warnings

import pytest

import keras_mimo

SHIMS = {
    "keras_mimo.applications.cifar_data": [
        "MEAN",
        "NUM_CLASSES",
        "STD",
        "DataUnavailableError",
        "augment_numpy",
        "load_npz",
        "load_prepared_or_download",
        "load_tfds",
        "main",
        "normalize",
        "npz_from_tarball",
        "numpy_train_dataset",
        "tf_available",
        "tf_train_dataset",
    ],
    "keras_mimo.applications.tfds_loading": ["DataUnavailableError", "load_prepared_or_download", "online"],
}


def _fresh_import(name, monkeypatch):
    """Imports `name` as if for the first time in this process; returns (module, warnings raised)."""
    monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.delattr(keras_mimo.applications, name.rsplit(".", 1)[1], raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        __import__(name)  # an import statement's own call (importlib.import_module adds a frame of its own)
        __import__(name)  # a second import: no second warning
    return sys.modules[name], [w for w in caught if issubclass(w.category, DeprecationWarning)]


@pytest.mark.parametrize("name", sorted(SHIMS))
def test_the_old_path_warns_once_and_names_the_new_one(name, monkeypatch):
    _, caught = _fresh_import(name, monkeypatch)
    assert len(caught) == 1, [str(w.message) for w in caught]
    message = str(caught[0].message)
    assert name in message and "keras_mimo.datasets" in message and "0.3.0" in message
    assert caught[0].filename == __file__  # attributed to the importing line, not to importlib


@pytest.mark.parametrize("name", sorted(SHIMS))
def test_the_old_path_reexports_the_same_objects_and_defines_none(name, monkeypatch):
    module, _ = _fresh_import(name, monkeypatch)
    for attribute in SHIMS[name]:
        value = getattr(module, attribute)
        if inspect.isfunction(value) or inspect.isclass(value):
            assert value.__module__.startswith("keras_mimo.datasets."), (attribute, value.__module__)
    own = [n for n, v in vars(module).items() if (inspect.isfunction(v) or inspect.isclass(v))]
    assert all(vars(module)[n].__module__ != name for n in own), own  # no name defined twice
    new = importlib.import_module("keras_mimo.datasets")
    assert module.DataUnavailableError is new.DataUnavailableError


def test_no_module_of_the_package_imports_the_shims():
    """Only a user's import of an old path warns: the package itself never imports one."""
    import ast
    import pathlib

    root = pathlib.Path(keras_mimo.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            offenders += [f"{path.name}: {n}" for n in names if n in SHIMS]
    assert offenders == []
