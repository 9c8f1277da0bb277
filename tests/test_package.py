import os
import re

import pytest

import keras_mimo


def test_version_is_a_release_string():
    assert re.fullmatch(r"\d+\.\d+\.\d+", keras_mimo.__version__)


def test_public_names_are_exported():
    for name in ["MIMOInput", "MIMOHead", "MIMOModel", "convert", "mimo_batch_indices"]:
        assert hasattr(keras_mimo, name)


def test_package_is_the_installed_wheel_when_ci_says_so():
    """In CI the tests must exercise the built wheel, not the source tree."""
    if os.environ.get("KERAS_MIMO_EXPECT_INSTALLED") != "1":
        pytest.skip("only checked by scripts/run_tests.sh")
    assert "site-packages" in keras_mimo.__file__


PUBLIC_API = [
    "MIMOHead",
    "MIMOInput",
    "MIMOModel",
    "MixMoInput",
    "MixMoSchedule",
    "__version__",
    "applications",
    "batching",
    "calibration",
    "combine_members",
    "conformal",
    "convert",
    "datasets",
    "ensembles",
    "evaluate_ensemble",
    "evaluate_regression",
    "evaluation",
    "losses",
    "metrics",
    "mixing",
    "mimo_batch_indices",
    "uncertainty",
    "with_uncertainty",
]


# every public module's __all__ (the top level: PUBLIC_API); a change here is a change of the promise
PUBLIC_LISTS = {
    "keras_mimo.applications": ["VirtualBatchNormalization", "WarmUpStepDecay", "cifar_training", "wide_resnet"],
    "keras_mimo.applications.cifar_training": [
        "TrainConfig",
        "batch_plan",
        "load_data",
        "mixed_precision_policy",
        "train",
    ],
    "keras_mimo.batching": ["form_training_batch", "mimo_batch_indices", "shard_batch_indices", "shuffled_row_count"],
    "keras_mimo.calibration": [
        "StdScaling",
        "TemperatureScaling",
        "ensemble_log_probabilities",
        "fit_std_scale",
        "fit_temperature",
        "scaled_log_probabilities",
        "temperature_from_log_probabilities",
        "temperature_nll",
        "with_std_scale",
        "with_temperature",
    ],
    "keras_mimo.conformal": [
        "PredictionIntervals",
        "PredictionSets",
        "RAPS_DEFAULTS",
        "SCORES",
        "class_scores",
        "conformal_quantile",
        "fit_prediction_intervals",
        "fit_prediction_sets",
        "prediction_sets",
        "with_prediction_intervals",
        "with_prediction_sets",
    ],
    "keras_mimo.datasets": ["DataUnavailableError", "cifar", "cifar_pipeline", "cifar_tarball", "tfds_loading"],
    "keras_mimo.datasets.cifar": ["MEAN", "NUM_CLASSES", "STD", "load_npz", "load_tfds", "normalize"],
    "keras_mimo.datasets.cifar_pipeline": ["augment_numpy", "numpy_train_dataset", "tf_available", "tf_train_dataset"],
    "keras_mimo.datasets.cifar_tarball": ["npz_from_tarball"],
    "keras_mimo.datasets.tfds_loading": ["DataUnavailableError", "load_prepared_or_download", "online"],
    "keras_mimo.ensembles": [
        "ENSEMBLE_METHODS",
        "Ensemble",
        "EnsembleReader",
        "MIN_STD",
        "TINY",
        "as_ensemble",
        "check_ensemble_method",
        "combine_members",
        "default_ensemble_method",
        "ensemble_probabilities",
        "entropy",
        "expected_entropy",
        "gaussian_moments",
        "gaussian_parameters",
        "log_mean_exp",
        "log_probabilities",
        "logits_method",
        "moment_matched",
        "mutual_information",
        "split_gaussian",
        "to_log_probabilities",
        "to_numpy",
        "to_probabilities",
    ],
    "keras_mimo.evaluation": [
        "CORRUPTIONS",
        "SEVERITIES",
        "aggregate_corruption_results",
        "corrupt_images",
        "corrupted_sets",
        "evaluate_corruptions",
        "evaluate_ensemble",
        "evaluate_regression",
        "load_tfds_cifar10_corrupted",
        "member_gaussians",
        "member_predictions",
        "member_probabilities",
        "ood_scores",
        "reliability_bins",
        "scores_from_probabilities",
    ],
    "keras_mimo.losses": ["GaussianNLL", "gaussian_nll"],
    "keras_mimo.metrics": [
        "BrierScore",
        "CRPS",
        "ExpectedCalibrationError",
        "GaussianNLL",
        "NegativeLogLikelihood",
        "adaptive_calibration_error",
        "augrc",
        "aupr_in",
        "aupr_out",
        "aurc",
        "auroc",
        "average_kl",
        "brier_score",
        "cosine_similarity",
        "coverage_at_risk",
        "disagreement",
        "fpr_at_95_tpr",
        "gaussian_crps",
        "negative_log_likelihood",
        "ood_scores",
        "risk_at_coverage",
        "risk_coverage_curve",
    ],
    "keras_mimo.mixing": [
        "DATA_FORMATS",
        "MIXINGS",
        "cut_masks",
        "linear_masks",
        "loss_weights",
        "mix",
        "sample_ratios",
    ],
    "keras_mimo.uncertainty": ["ClassifierUncertainty", "GaussianUncertainty", "with_uncertainty"],
}


def test_the_public_surface_is_exactly_the_pinned_all():
    assert sorted(keras_mimo.__all__) == sorted(PUBLIC_API)
    public = {n for n in vars(keras_mimo) if not n.startswith("_")} | {"__version__"}
    # every public attribute is in __all__ (submodules imported by others included)
    # (and the 0.1 modules kept as deprecated redirects until 0.3.0, once something imported them)
    allowed = {"layers", "model", "version", "distribution", "ensembling", "predictive"}
    assert public - set(keras_mimo.__all__) <= allowed, public - set(keras_mimo.__all__)
    for name in keras_mimo.__all__:
        assert hasattr(keras_mimo, name), name


def _package_modules():
    import pathlib

    root = pathlib.Path(keras_mimo.__file__).parent
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path, parts[-1] == "__init__"


def _imports(name, path, is_package):
    """`(imported module, imported names)` of each import of keras_mimo at a module's top level."""
    import ast

    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("keras_mimo"):
                    yield alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("keras_mimo"):
            yield node.module, [a.name for a in node.names]


def _import_graph():
    import importlib

    graph = {}
    for name, path, is_package in _package_modules():
        edges = set()
        for module, names in _imports(name, path, is_package):
            edges.add(module)
            for n in names:  # `from keras_mimo import calibration` imports the submodule
                candidate = f"{module}.{n}"
                try:
                    importlib.import_module(candidate)
                    edges.add(candidate)
                except ImportError:
                    pass
        graph[name] = edges - {name}
    return graph


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_package_has_no_import_cycles():
    """Modules import each other without a circle (a package's __init__ re-exporting its own modules aside)."""
    graph = _import_graph()
    # A package's __init__ imports its submodules; a submodule importing a sibling through the
    # package name is the circle to find, so edges into a package's own __init__ from inside it go.
    pruned = {v: {w for w in ws if not v.startswith(w + ".")} for v, ws in graph.items()}
    assert _cycles(pruned) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_private_name_is_imported_across_modules():
    """`from x import _name` only for private modules (`_keras_compat`, `_members`, ...), never private functions."""
    import importlib

    offenders = []
    for name, path, is_package in _package_modules():
        for module, names in _imports(name, path, is_package):
            for n in names:
                if n.startswith("_") and not n.startswith("__"):
                    try:
                        importlib.import_module(f"{module}.{n}")
                    except ImportError:
                        offenders.append(f"{name}: from {module} import {n}")
    assert offenders == []


def test_every_public_module_lists_exactly_the_pinned_names():
    import importlib

    for module_name, names in PUBLIC_LISTS.items():
        module = importlib.import_module(module_name)
        assert sorted(module.__all__) == names, module_name
        for name in names:
            assert hasattr(module, name), f"{module_name}.{name}"


def test_the_api_page_is_generated_from_the_public_lists():
    import pathlib

    from tests.testing import load_module_from_file

    root = pathlib.Path(__file__).resolve().parents[1]
    api_page = load_module_from_file("api_page", root / "scripts" / "api_page.py")
    assert (root / "docs" / "api.md").read_text() == api_page.page(keras_mimo), "run python scripts/api_page.py"
    modules = {m.__name__ for m in api_page.public_modules(keras_mimo)} - {"keras_mimo"}
    assert modules == set(PUBLIC_LISTS)  # every public module is pinned


def _is_public(dotted: str) -> bool:
    """Whether `keras_mimo.a.b` names a public module or a name in a public module's `__all__`."""
    parts = dotted.split(".")
    lists = {"keras_mimo": list(PUBLIC_API), **PUBLIC_LISTS}
    for i in range(len(parts) - 1, 0, -1):
        module, rest = ".".join(parts[:i]), parts[i:]
        if module in lists:
            return rest[0] in lists[module] and (len(rest) == 1 or f"{module}.{rest[0]}" in lists or i > 1)
    return False


def test_the_readme_and_docs_name_only_public_names():
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[1]
    texts = [root / "README.md", *sorted((root / "docs").glob("*.md")), *sorted((root / "examples").glob("*.py"))]
    private = set()
    for path in texts:
        for dotted in re.findall(r"keras_mimo(?:\.[A-Za-z_][A-Za-z0-9_]*)+", path.read_text()):
            dotted = dotted.rstrip(".")
            if dotted.split(".")[-1] in ("py", "md"):  # a file name, e.g. keras_mimo/model.py
                continue
            if not _is_public(dotted):
                private.add(f"{path.name}: {dotted}")
    assert not private, sorted(private)
