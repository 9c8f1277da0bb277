"""The release bits: the version, the changelog, the license and what the source distribution carries."""

import pathlib
import re

import pytest

import keras_mimo

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_the_version_is_the_changelogs_newest_release():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", changelog, flags=re.M)
    assert keras_mimo.__version__ == "0.2.0"
    assert releases[:2] == [keras_mimo.__version__, "0.1.0"]


def test_the_changelog_names_each_moved_module_and_when_its_alias_goes():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    section = changelog.split("## [0.2.0]")[1].split("## [0.1.0]")[0]
    for heading in ("### Ensemble core", "### Added", "### Changed", "### Removed", "### Deprecated"):
        assert heading in section, heading
    for old, new in [
        ("keras_mimo.ensembling", "keras_mimo.ensembles"),
        ("keras_mimo.predictive", "keras_mimo.ensembles"),
        ("keras_mimo.distribution", "keras_mimo._distribution"),
        ("keras_mimo.applications.cifar_data", "keras_mimo.datasets.cifar"),
        ("keras_mimo.applications.tfds_loading", "keras_mimo.datasets.tfds_loading"),
    ]:
        assert f"`{old}` -> `{new}`" in section
    deprecated = section.split("### Deprecated")[1]
    assert "removed in 0.3.0" in deprecated and "applications.cifar_data" in deprecated


def test_the_license_file_is_the_apache_license_the_metadata_names():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    text = (ROOT / "LICENSE").read_text()
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "END OF TERMS AND CONDITIONS" in text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    manifest = (ROOT / "MANIFEST.in").read_text().split("\n")
    assert "include CHANGELOG.md" in manifest and "include LICENSE" in manifest
