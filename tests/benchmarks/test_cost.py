"""The cost benchmark: its same-graph baseline on every backend, a tiny overhead run on TensorFlow."""

import argparse
import math
import pathlib

import numpy as np
import pytest

from benchmarks import cost

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_same_graph_baseline_takes_stacked_rows():
    mimo = cost.build(10, 1, 3)
    plain = cost.SameGraphWithoutBatching(mimo)
    stacked = np.random.default_rng(0).random((3 * 4, 32, 32, 3)).astype("float32")
    out = plain(stacked, training=True)
    assert tuple(out.shape) == (3 * 4, 10)  # member-major rows: one head row per member row


@pytest.mark.large  # two model compiles: one backend is enough (the baseline is tested on every backend above)
def test_training_overhead_runs():
    args = argparse.Namespace(train_batch=4, steps=2, rounds=1)
    result = cost.training_overhead(10, 1, args)
    assert result["rows_per_step"] == 12
    assert math.isfinite(result["overhead_fraction"])
    assert all(t > 0 for t in result["all_seconds"]["plain_fit_same_rows"])
