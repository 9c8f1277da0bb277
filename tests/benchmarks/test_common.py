"""benchmarks/common.py, and the benchmarks' import rules: no private package module, no circle."""

import ast
import pathlib
import sys

import numpy as np

from benchmarks import common

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _imports(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, []


def test_no_benchmark_imports_a_private_package_module():
    offenders = []
    for path in sorted((ROOT / "benchmarks").glob("*.py")):
        for module, names in _imports(path):
            dotted = [module] + [f"{module}.{n}" for n in names]
            if any(
                part.startswith("_") and not part.startswith("__")
                for d in dotted
                if d.startswith("keras_mimo")
                for part in d.split(".")
            ):
                offenders.append(f"{path.name}: {module} {names}")
    assert offenders == []


def test_benchmarks_import_each_other_without_a_circle():
    graph = {}
    for path in sorted((ROOT / "benchmarks").glob("*.py")):
        deps = set()
        for module, names in _imports(path):
            if module == "benchmarks":
                deps.update(names)
            elif module.startswith("benchmarks."):
                deps.add(module.split(".")[1])
        graph[path.stem] = deps - {path.stem}

    def reaches(start, target, seen=()):
        return any(d == target or (d not in seen and reaches(d, target, seen + (d,))) for d in graph.get(start, ()))

    assert [name for name in graph if reaches(name, name)] == []


def test_corrupted_sets_are_cached_and_read_back(tmp_path):
    images = np.random.default_rng(0).integers(0, 255, (3, 32, 32, 3), dtype=np.uint8)
    labels = np.array([0, 1, 2])
    cache = tmp_path / "c.npz"
    sets, got = common.cached_corrupted_sets(images, labels, ["contrast"], [1, 3], str(cache))
    again, got_again = common.cached_corrupted_sets(images * 0, labels * 0, ["contrast"], [1, 3], str(cache))
    assert sorted(sets) == sorted(again) == [("contrast", 1), ("contrast", 3)]
    for key in sets:
        np.testing.assert_array_equal(sets[key], again[key])
    np.testing.assert_array_equal(got_again, labels)  # the cache, not the new arguments


def test_markdown_table():
    assert common.markdown_table(["a", "b"], [[1, 2.5]]) == "| a | b |\n|---|---|\n| 1 | 2.5 |"


def test_variants_in_order_follows_the_wanted_order_and_skips_unknown_names():
    variants = [("single_s0", 1, 0), ("mimo2", 2, 0), ("single_s1", 1, 1), ("mimo3", 3, 0)]
    assert common.variants_in_order(variants, ["mimo3", "single_s0", "nope", "mimo2"]) == [
        ("mimo3", 3, 0),
        ("single_s0", 1, 0),
        ("mimo2", 2, 0),
    ]


def test_the_benchmarks_come_from_the_repository_and_keras_mimo_from_its_install():
    """tests/conftest.py imports the benchmarks package by location: the root is not on sys.path."""
    import os

    import benchmarks
    import keras_mimo

    assert pathlib.Path(benchmarks.__file__).resolve() == ROOT / "benchmarks" / "__init__.py"
    if os.environ.get("KERAS_MIMO_EXPECT_INSTALLED") == "1":  # scripts/run_tests.sh
        assert str(ROOT) not in {str(pathlib.Path(p or ".").resolve()) for p in sys.path}
        assert "site-packages" in keras_mimo.__file__


def test_no_test_edits_sys_path():
    """Tests import the benchmarks through tests/conftest.py and give subprocesses PYTHONPATH instead."""
    edits = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "sys.path." + "insert" in line or "sys.path." + "append" in line or "sys.path " + "=" in line
    ]
    assert edits == []
