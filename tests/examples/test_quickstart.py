"""Runs examples/quickstart.py as a user does: a separate process (own absl flags)."""

import os
import pathlib
import subprocess
import sys

import keras
import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "examples" / "quickstart.py"

# examples run end to end (each in its own process): the large tier
pytestmark = pytest.mark.large


def test_quickstart_runs_both_models_on_a_tiny_copy(tiny_npz):
    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend())
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            f"--npz_dir={tiny_npz}",
            "--epochs=1",
            "--width=4",
            "--train_examples=0",
            "--test_examples=0",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    table = result.stdout.split("model")[-1]
    assert "single" in table and "MIMO M=2" in table


def test_quickstart_without_data_says_which_flag(tmp_path):
    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend())
    result = subprocess.run(
        [sys.executable, str(SCRIPT), f"--npz_dir={tmp_path}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode != 0 and "--npz_dir" in result.stderr
