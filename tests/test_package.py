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
