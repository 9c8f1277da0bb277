"""Selective-prediction metrics against brute force over every coverage level."""

import math

import numpy as np
import pytest

from keras_mimo import metrics


def brute_force(confidence, correct):
    """Per k: (coverage, risk, errors among the top k), ranking by a Python sort (stable)."""
    order = sorted(range(len(confidence)), key=lambda i: -confidence[i])
    rows = []
    for k in range(1, len(order) + 1):
        errors = sum(not correct[i] for i in order[:k])
        rows.append((k / len(order), errors / k, errors))
    return rows


def random_case(n, seed, ties=False):
    rng = np.random.default_rng(seed)
    confidence = rng.integers(0, 4, n) / 4 if ties else rng.random(n)
    correct = rng.random(n) < 0.7
    return confidence, correct


@pytest.mark.parametrize("n,ties", [(1, False), (7, False), (50, True), (200, False)])
def test_curve_aurc_and_augrc_equal_brute_force(n, ties):
    confidence, correct = random_case(n, seed=n, ties=ties)
    rows = brute_force(confidence.tolist(), correct.tolist())
    coverage, risk = metrics.risk_coverage_curve(confidence, correct)
    np.testing.assert_allclose(coverage, [r[0] for r in rows])
    np.testing.assert_allclose(risk, [r[1] for r in rows])
    assert metrics.aurc(confidence, correct) == pytest.approx(np.mean([r[1] for r in rows]))
    assert metrics.augrc(confidence, correct) == pytest.approx(np.mean([r[2] / n for r in rows]))


@pytest.mark.parametrize("target", [0.1, 0.5, 0.8, 0.999, 1.0])
def test_risk_at_coverage_is_the_risk_of_the_top_ceil_rows(target):
    confidence, correct = random_case(101, seed=3)
    rows = brute_force(confidence.tolist(), correct.tolist())
    k = math.ceil(target * 101)
    assert metrics.risk_at_coverage(confidence, correct, target) == pytest.approx(rows[k - 1][1])


@pytest.mark.parametrize("target", [0.0, 0.05, 0.2, 1.0])
def test_coverage_at_risk_is_the_largest_coverage_within_the_risk(target):
    confidence, correct = random_case(120, seed=4)
    rows = brute_force(confidence.tolist(), correct.tolist())
    ok = [cov for cov, risk, _ in rows if risk <= target]
    assert metrics.coverage_at_risk(confidence, correct, target) == pytest.approx(max(ok) if ok else 0.0)


def test_ties_keep_their_order_and_a_perfect_ranking_scores_its_floor():
    # three rows tied at the top: the stable order puts the error (row 0) first
    coverage, risk = metrics.risk_coverage_curve([0.9, 0.9, 0.9, 0.1], [False, True, True, False])
    np.testing.assert_allclose(risk, [1.0, 0.5, 1 / 3, 0.5])
    # errors ranked last: AUGRC is its minimum, risk is 0 until coverage passes the accuracy
    confidence, correct = np.linspace(1, 0, 10), np.arange(10) < 8
    assert metrics.coverage_at_risk(confidence, correct, 0.0) == pytest.approx(0.8)
    assert metrics.risk_at_coverage(confidence, correct, 0.8) == 0.0
    assert metrics.augrc(confidence, correct) == pytest.approx((1 + 2) / 10 / 10)
    assert metrics.aurc(confidence, correct) < metrics.aurc(-confidence, correct)


@pytest.mark.parametrize(
    "confidence,correct,match",
    [
        ([0.1, 0.2], [True], "same length"),
        ([], [], "empty"),
        ([[0.1]], [[True]], "1-D"),
        ([0.5, np.nan], [True, False], "NaN"),
        ([0.5, 0.2], [2, 0], "booleans"),
    ],
)
def test_bad_inputs_name_the_argument(confidence, correct, match):
    with pytest.raises(ValueError, match=match):
        metrics.aurc(confidence, correct)


@pytest.mark.parametrize(
    "fn,kwargs",
    [
        (metrics.risk_at_coverage, {"coverage": 0.0}),
        (metrics.risk_at_coverage, {"coverage": 1.5}),
        (metrics.coverage_at_risk, {"risk": -0.1}),
        (metrics.coverage_at_risk, {"risk": float("nan")}),
    ],
)
def test_out_of_range_targets_raise(fn, kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        fn([0.5, 0.2], [True, False], **kwargs)
