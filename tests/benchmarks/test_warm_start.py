"""The warm-start study: its CIFAR part on a tiny CIFAR-shaped copy, its UCI part on tiny datasets."""

import json
import pathlib
import subprocess
import sys

import pytest

from tests.benchmarks.test_uci_regression import fake_uci

ROOT = pathlib.Path(__file__).resolve().parents[2]


def warm_start_module():
    from benchmarks import warm_start

    return warm_start


def _run(*args):
    done = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.large
def test_cifar_part_fine_tunes_from_the_studys_single_and_scores_every_snapshot(tiny_npz, tmp_path):
    base, runs, docs = tmp_path / "base", tmp_path / "runs", tmp_path / "docs"
    common = ["--epochs=1", "--width_multiplier=1", "--train_examples=40", "--batch_size=16"]
    _run(
        "benchmarks.cifar10_shift_ood",
        f"--npz_dir={tiny_npz}",
        "--profile=cpu",
        *common,
        "--calibration_examples=40",
        "--corruption_examples=6",
        f"--run_dir={base}",
        f"--docs_dir={docs}",
        "--variants",
        "single_s0",
        "single_s1",
    )
    _run(
        "benchmarks.warm_start",
        "--part=cifar",
        f"--npz_dir={tiny_npz}",
        f"--base_dir={base}",
        f"--run_dir={runs}",
        f"--docs_dir={docs}",
        "--epochs=10",
        "--train_examples=40",
        "--calibration_examples=40",
        "--corruption_examples=6",
        "--batch_size=16",
    )
    report = json.loads((docs / "results" / "warm_start_cifar.json").read_text())
    expected = {"single_s0", "single_ft_e10", "mimo2_warm_e10", "mimo2_warm_noise_e10", "single_s1", "deep_ensemble2"}
    assert expected <= set(report["variants"])
    assert report["variants"]["mimo2_warm_e10"]["ensemble_size"] == 2
    assert report["variants"]["single_ft_e10"]["disagreement"] is None
    assert 0.0 <= report["variants"]["mimo2_warm_e10"]["disagreement"] <= 1.0
    table = (docs / "results" / "warm_start_cifar.md").read_text()
    assert all(f"| {name} |" in table for name in expected)


def test_cifar_table_has_one_row_per_variant_with_its_figures():
    warm_start = warm_start_module()
    clean = {"accuracy": 0.7, "nll": 0.8, "ece": 0.02, "aurc": 0.14}
    after = {
        "clean": clean,
        "per_severity": {s: {"nll": float(s)} for s in ("1", "3", "5")},
        "ood": {"cifar10_classes_6_9": {"max_prob": {"auroc": 0.56}, "mutual_information": {"auroc": 0.55}}},
    }
    report = {
        "training": {"mimo2_warm_e10": {"train_seconds": 123.4}},
        "variants": {"mimo2_warm_e10": {"after": after, "disagreement": 0.125}, "single_s0": {"after": after}},
    }
    lines = warm_start.cifar_table(report).splitlines()
    assert lines[-2] == (
        "| mimo2_warm_e10 | 123 | 0.7000 | 0.8000 | 0.0200 | 0.1400 | 1.000 | 3.000 | 5.000 | 0.5600 | 0.5500 | 0.1250 |"
    )
    assert lines[-1].startswith("| single_s0 | - |") and lines[-1].endswith("| - |")


@pytest.mark.large
def test_uci_part_scores_the_single_its_fine_tune_and_the_warm_mimo(tmp_path):
    data, docs, runs = tmp_path / "uci", tmp_path / "docs", tmp_path / "runs"
    fake_uci(data, "yacht")
    warm_start = warm_start_module()
    args = [
        "--part=uci",
        f"--data_dir={data}",
        f"--run_dir={runs}",
        f"--docs_dir={docs}",
        "--datasets",
        "yacht",
        "--uci_base_epochs=5",
        "--uci_epochs=3",
    ]
    results = warm_start.main(args)
    assert set(results["yacht"]) == {"single", "single_ft", "mimo2_warm", "mimo2_scratch"}
    assert results["yacht"]["mimo2_warm"]["splits"] == 2
    assert (docs / "results" / "warm_start_uci.md").read_text().count("| yacht |") == 4
    # resumable: the splits' results are read back, not retrained
    assert warm_start.main(args) == results


@pytest.mark.parametrize("npz_dir", [None, "some/npz"])
def test_study_args_are_the_shift_ood_defaults_with_this_studys_data(npz_dir):
    from benchmarks import cifar10_shift_ood

    warm_start = warm_start_module()
    args = warm_start.parser().parse_args(["--part", "cifar", "--base_dir", "runs/base", "--train_examples", "40"])
    args.npz_dir = npz_dir
    study, profile = warm_start._study_args(args)
    defaults = vars(cifar10_shift_ood.parser().parse_args([]))
    assert study.npz_dir == npz_dir  # None stays None (TFDS), not ""
    assert (study.profile, study.run_dir, study.train_examples) == ("cpu", "runs/base", 40)
    assert study.batch_size == defaults["batch_size"] and study.docs_dir == defaults["docs_dir"]
    assert profile == cifar10_shift_ood.profile_from_args(study)
