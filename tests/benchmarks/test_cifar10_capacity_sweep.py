"""The capacity sweep runs end to end on a tiny CIFAR-shaped copy (no real data)."""

import argparse
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.large
def test_sweep_trains_scores_and_reports_every_point(tiny_npz, tmp_path):
    run_dir, docs_dir = tmp_path / "runs", tmp_path / "docs"
    run_dir.mkdir()
    # A shared corruption cache of two sets, as the sweep would have generated it.
    test = np.load(os.path.join(tiny_npz, "test.npz"))
    np.savez(
        run_dir / "corrupted_6.npz",
        labels=test["y"][:6],
        **{"gaussian_noise@1": test["x"][:6], "contrast@5": test["x"][:6] // 4},
    )
    args = [
        sys.executable,
        "-m",
        "benchmarks.cifar10_capacity_sweep",
        f"--npz_dir={tiny_npz}",
        "--points",
        "1:150",
        "2:150",
        "1:200",
        "--unique_rows=300",
        "--corruption_examples=6",
        f"--run_dir={run_dir}",
        f"--docs_dir={docs_dir}",
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]

    with open(docs_dir / "results" / "capacity_sweep.json") as f:
        report = json.load(f)
    rows = {(r["width"], r["train_examples"], r["variant"]): r for r in report["rows"]}
    points = [(1, 150), (2, 150), (1, 200)]
    assert set(rows) == {p + (v,) for p in points for v in ("single_s0", "mimo2", "single_s1", "deep_ensemble2")}
    for width, examples in points:
        single, mimo, ensemble = (rows[width, examples, v] for v in ("single_s0", "mimo2", "deep_ensemble2"))
        assert single["epochs"] == round(300 / examples)
        gap = (single["nll"] - mimo["nll"]) / (single["nll"] - ensemble["nll"])
        np.testing.assert_allclose(mimo["nll_gap_closed"], gap, rtol=1e-6)
        assert mimo["ensemble_size"] == 2 and ensemble["parameters"] == 2 * single["parameters"]
        assert 0.0 <= mimo["cA"] <= 1.0 and mimo["rows_processed"] == 2 * single["rows_processed"]
    assert rows[2, 150, "single_s0"]["parameters"] > rows[1, 150, "single_s0"]["parameters"]
    assert (docs_dir / "results" / "capacity_sweep.png").stat().st_size > 0
    assert (docs_dir / "results" / "capacity_sweep_curves.png").stat().st_size > 0
    table = (docs_dir / "results" / "capacity_sweep.md").read_text()
    assert table.count("\n") == 2 + len(rows)

    # A rerun with --report_only reuses the finished runs and trains nothing.
    again = subprocess.run(args + ["--report_only"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert again.returncode == 0 and "Epoch" not in again.stdout + again.stderr
    assert (docs_dir / "results" / "capacity_sweep.md").read_text() == table


@pytest.mark.parametrize("text", ["2", "2:x", "0:100", "2:5000:1"])
def test_a_malformed_point_is_refused_with_its_format(text):
    from benchmarks import cifar10_capacity_sweep

    with pytest.raises(argparse.ArgumentTypeError, match="WIDTH:TRAIN_EXAMPLES|positive"):
        cifar10_capacity_sweep.parse_point(text)
