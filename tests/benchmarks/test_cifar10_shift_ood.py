"""The shift/OOD study end to end on a tiny CIFAR-shaped copy (no real data), checked from the saved models."""

import json
import math
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_mimo import calibration
from keras_mimo import conformal
from keras_mimo.datasets import cifar

from benchmarks import cifar10_shift_ood
from benchmarks import shift_ood_report

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def study(tiny_npz, tmp_path):
    run_dir, docs_dir = tmp_path / "runs", tmp_path / "docs"
    args = [
        sys.executable,
        "-m",
        "benchmarks.cifar10_shift_ood",
        f"--npz_dir={tiny_npz}",
        "--profile=cpu",
        "--epochs=1",
        "--width_multiplier=1",
        "--train_examples=40",
        "--calibration_examples=40",
        "--batch_size=16",
        "--corruption_examples=6",
        f"--run_dir={run_dir}",
        f"--docs_dir={docs_dir}",
        "--variants",
        "single_s0",
        "mimo2",
        "single_s1",
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((docs_dir / "results" / "shift_ood_cpu.json").read_text())
    return tiny_npz, run_dir, docs_dir, report


@pytest.mark.large
def test_study_scores_every_variant_from_held_out_calibration_images(study):
    npz, run_dir, docs_dir, report = study
    x_train, y_train, x_test, y_test = cifar.load_npz(npz)
    in_train = np.flatnonzero(y_train < 6)
    assert set(report["variants"]) == {"single_s0", "mimo2", "single_s1", "deep_ensemble2"}
    assert report["protocol"]["calibration_images"] == (
        f"in-distribution training images {len(in_train) - 40}..{len(in_train) - 1}"
    )
    assert len(in_train) >= 80  # the calibration images come after the 40 training images
    x_cal, y_cal = cifar.normalize(x_train[in_train[-40:]]), y_train[in_train[-40:]]
    x_id, y_id = cifar.normalize(x_test[y_test < 6]), y_test[y_test < 6]
    assert report["protocol"]["test_images"] == len(y_id)
    for name, result in report["variants"].items():
        names = result.get("members", [name])
        models = [keras.models.load_model(run_dir / n / "model.keras") for n in names]
        cal = calibration.ensemble_log_probabilities(models, x_cal)
        t = result["temperature"]
        assert t == pytest.approx(calibration.temperature_from_log_probabilities(cal, y_cal), rel=1e-6)
        for state, temperature in (("before", 1.0), ("after", t)):
            scaled_cal = calibration.scaled_log_probabilities(cal, temperature)
            lac = conformal.class_scores(np.exp(scaled_cal), "lac")[np.arange(40), y_cal]
            got = result[state]["conformal"]["lac"]
            assert got["threshold"] == pytest.approx(np.sort(lac)[math.ceil(41 * 0.9) - 1], rel=1e-5)
            test = calibration.scaled_log_probabilities(
                calibration.ensemble_log_probabilities(models, x_id), temperature
            )
            sets = conformal.prediction_sets(np.exp(test), got["threshold"], "lac")
            assert got["test"]["coverage"] == pytest.approx(sets[np.arange(len(y_id)), y_id].mean())
            assert result[state]["clean"]["nll"] == pytest.approx(
                calibration.temperature_nll(test, y_id, 1.0), rel=1e-5
            )
        assert set(result["after"]["ood"]) == {"cifar10_classes_6_9"}
        assert set(result["after"]["per_severity"]) == {"1", "3", "5"}
    table = (docs_dir / "results" / "shift_ood_cpu.md").read_text()
    assert "| deep_ensemble2 | 2 |" in table and "| mimo2 | lac |" in table
    assert (docs_dir / "results" / "shift_ood_cpu.png").exists()
    timed = report["training"]
    assert set(timed) == {"single_s0", "mimo2", "single_s1"} and all(t["inference_seconds"] > 0 for t in timed.values())
    cost = table.split("### Cost", 1)[1]
    ensemble = timed["single_s0"]["inference_seconds"] + timed["single_s1"]["inference_seconds"]
    assert f"| deep_ensemble2 | {2 * timed['single_s0']['parameters']:,} |" in cost
    assert f"| {ensemble:.2f} | {ensemble / timed['single_s0']['inference_seconds']:.2f} |" in cost


def test_split_keeps_calibration_images_out_of_training_and_ood_classes_out_of_both(tiny_npz):
    args = cifar10_shift_ood.parser().parse_args(
        [f"--npz_dir={tiny_npz}", "--train_examples=30", "--calibration_examples=50"]
    )
    data = cifar10_shift_ood.split(args, cifar10_shift_ood.profile_from_args(args))
    train, cal = data["train"][0].reshape(30, -1), data["calibration"][0].reshape(50, -1)
    assert not any((row == train).all(-1).any() for row in cal)
    assert data["train"][1].max() < 6 and data["calibration"][1].max() < 6 and data["test"][1].max() < 6
    _, _, x_test, y_test = cifar.load_npz(tiny_npz)
    np.testing.assert_array_equal(data["ood"]["cifar10_classes_6_9"], x_test[y_test >= 6])
    args.train_examples = 10**6
    with pytest.raises(ValueError, match="exceed"):
        cifar10_shift_ood.split(args, cifar10_shift_ood.profile_from_args(args))


def test_ood_scores_rank_a_confident_in_distribution_above_a_flat_ood_set():
    in_log_p = np.log(np.array([[0.97, 0.01, 0.01, 0.01]] * 20))
    out_log_p = np.log(np.full((10, 4), 0.25))
    members_in = np.exp(in_log_p)[:, None].repeat(2, 1)
    members_out = np.stack([np.eye(4)[np.arange(10) % 4] * 0.9 + 0.025, np.full((10, 4), 0.25)], 1)
    scores = shift_ood_report.ood_scores(in_log_p, out_log_p, members_in, members_out)
    assert scores["max_prob"]["auroc"] == 1.0 and scores["entropy"]["fpr95"] == 0.0
    assert scores["mutual_information"]["auroc"] == 1.0
