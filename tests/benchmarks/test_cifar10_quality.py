"""The quality study's temperature-scaling report on a tiny CIFAR-shaped copy (no real data)."""

import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_mimo import calibration
from keras_mimo.datasets import cifar

ROOT = pathlib.Path(__file__).resolve().parents[2]


def run_study(tiny_npz, tmp_path, *extra):
    run_dir, docs_dir = tmp_path / "runs", tmp_path / "docs"
    args = [
        sys.executable,
        "-m",
        "benchmarks.cifar10_quality",
        f"--npz_dir={tiny_npz}",
        "--profile=cpu_small_data",
        "--epochs=1",
        "--width_multiplier=1",
        "--test_examples=20",
        f"--run_dir={run_dir}",
        f"--docs_dir={docs_dir}",
        *extra,
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return run_dir, docs_dir, done.stdout


@pytest.mark.large
def test_temperatures_are_fitted_on_held_out_training_images_and_reported(tiny_npz, tmp_path):
    run_dir, docs_dir, _ = run_study(tiny_npz, tmp_path, "--train_examples=130", "--calibration_examples=60")
    report = json.loads((docs_dir / "results" / "quality_cpu_small_data.json").read_text())["variants"]
    assert set(report) == {"single_s0", "mimo2", "single_s1", "deep_ensemble2"}
    x_train, y_train, x_test, y_test = cifar.load_npz(tiny_npz)
    x_cal, y_cal = cifar.normalize(x_train[-60:]), y_train[-60:]
    load = lambda name: keras.models.load_model(run_dir / name / "model.keras")
    for name, result in report.items():
        scaling = result["temperature_scaling"]
        assert scaling["calibration_images"] == "training images 140..199"  # training used images 0..129
        models = [load(m) for m in result["members"]] if name.startswith("deep") else load(name)
        # T minimizes the held-out NLL within fit_temperature's bounds [0.05, 20] (untrained
        # models on random labels prefer the flattest distribution: T at the upper bound) ...
        cal = calibration.ensemble_log_probabilities(models, x_cal)
        nll = lambda t: calibration.temperature_nll(cal, y_cal, t)
        t = scaling["temperature"]
        neighbours = [v for v in (t * 1.05, t / 1.05) if 0.05 <= v <= 20.0]
        assert neighbours and nll(t) <= min(nll(v) for v in neighbours) + 1e-9
        # ... and the test metrics after scaling are those of softmax(log p / T).
        test = calibration.ensemble_log_probabilities(models, cifar.normalize(x_test[:20]))
        np.testing.assert_allclose(
            scaling["after"]["nll"], calibration.temperature_nll(test, y_test[:20], t), rtol=1e-5
        )
        assert scaling["before"]["nll"] == result["test"]["nll"]
    plots = sorted(p.name for p in (docs_dir / "results").glob("*.png"))
    assert plots == [f"quality_cpu_small_data_{n}.png" for n in ("learning_curves", "nll_vs_m", "reliability")]
    table = (docs_dir / "results" / "quality_cpu_small_data_temperature.md").read_text()
    assert table.count("\n") == 2 + 4 and "| deep_ensemble2 | 2 |" in table


@pytest.mark.large
def test_no_temperature_when_training_reaches_the_held_out_images(tiny_npz, tmp_path):
    _, docs_dir, out = run_study(
        tiny_npz, tmp_path, "--train_examples=180", "--calibration_examples=60", "--report_only"
    )
    assert "temperature scaling: skipped" in out
    assert not os.path.exists(docs_dir / "results" / "quality_cpu_small_data_temperature.md")
