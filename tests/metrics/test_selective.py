"""Selective-prediction metrics against a transcription of their reference definition.

The reference (Traub et al., NeurIPS 2024, and their fd-shifts
`RiskCoverageStats`): one point of the risk-coverage curve per distinct
confidence `t` (the rows with confidence >= t are answered), the area by the
trapezoidal rule down to coverage 0, where the selective risk is held at its
value at the highest threshold and the generalized risk is 0. Written here
from that definition, one threshold at a time in plain Python.
"""

import math

import numpy as np
import pytest

from keras_mimo import metrics


def reference_points(confidence, correct):
    """Per distinct threshold, highest first: (coverage, selective risk, generalized risk)."""
    n = len(confidence)
    points = []
    for t in sorted(set(confidence), reverse=True):
        answered = [i for i in range(n) if confidence[i] >= t]
        errors = sum(1 for i in answered if not correct[i])
        points.append((len(answered) / n, errors / len(answered), errors / n))
    return points


def trapezoid(xs, ys):
    return sum((x1 - x0) * (y0 + y1) / 2 for x0, x1, y0, y1 in zip(xs, xs[1:], ys, ys[1:]))


def reference_aurc(confidence, correct):
    points = reference_points(confidence, correct)
    return trapezoid([0.0] + [p[0] for p in points], [points[0][1]] + [p[1] for p in points])


def reference_augrc(confidence, correct):
    points = reference_points(confidence, correct)
    return trapezoid([0.0] + [p[0] for p in points], [0.0] + [p[2] for p in points])


def random_case(n, seed, ties=False):
    rng = np.random.default_rng(seed)
    confidence = rng.integers(0, 4, n) / 4 if ties else rng.random(n)
    correct = rng.random(n) < 0.7
    return confidence, correct


# 7 rows, ties at 0.8 and 0.5; thresholds 0.9, 0.8, 0.7, 0.5 answer 1, 3, 4, 7 rows with 0, 1, 1, 3 errors
SEVEN = ([0.5, 0.8, 0.9, 0.5, 0.7, 0.8, 0.5], [False, True, True, True, True, False, False])


def test_a_hand_computed_case():
    coverage, risk = metrics.risk_coverage_curve(*SEVEN)
    np.testing.assert_allclose(coverage, [1 / 7, 3 / 7, 4 / 7, 1.0])
    np.testing.assert_allclose(risk, [0.0, 1 / 3, 1 / 4, 3 / 7])
    # trapezoids: 0 + (2/7)(1/3)/2 + (1/7)(1/3 + 1/4)/2 + (3/7)(1/4 + 3/7)/2
    assert metrics.aurc(*SEVEN) == pytest.approx(23 / 98, abs=1e-15)
    # generalized risk 0, 1/7, 1/7, 3/7 from (0, 0): (2/7)(1/7)/2 + (1/7)(2/7)/2 + (3/7)(4/7)/2
    assert metrics.augrc(*SEVEN) == pytest.approx(8 / 49, abs=1e-15)
    # 2 of 7 rows asked for: the whole tie at 0.8 is answered (3 rows, 1 error)
    assert metrics.risk_at_coverage(*SEVEN, coverage=2 / 7) == pytest.approx(1 / 3)
    assert metrics.risk_at_coverage(*SEVEN, coverage=0.5) == pytest.approx(1 / 4)
    assert metrics.coverage_at_risk(*SEVEN, risk=0.3) == pytest.approx(4 / 7)
    assert metrics.coverage_at_risk(*SEVEN, risk=0.0) == pytest.approx(1 / 7)


@pytest.mark.parametrize(
    "n,ties,seed",
    [(1, False, 0), (2, True, 1), (7, True, 2), (7, False, 3), (50, True, 4), (200, False, 5), (200, True, 6)],
)
def test_curve_aurc_and_augrc_equal_the_reference(n, ties, seed):
    confidence, correct = random_case(n, seed, ties)
    points = reference_points(confidence.tolist(), correct.tolist())
    coverage, risk = metrics.risk_coverage_curve(confidence, correct)
    np.testing.assert_allclose(coverage, [p[0] for p in points])
    np.testing.assert_allclose(risk, [p[1] for p in points])
    assert metrics.aurc(confidence, correct) == pytest.approx(
        reference_aurc(confidence.tolist(), correct.tolist()), abs=1e-12
    )
    assert metrics.augrc(confidence, correct) == pytest.approx(
        reference_augrc(confidence.tolist(), correct.tolist()), abs=1e-12
    )


@pytest.mark.parametrize("target", [0.01, 0.1, 0.5, 0.8, 0.999, 1.0])
@pytest.mark.parametrize("ties", [False, True])
def test_risk_at_coverage_is_the_risk_of_the_first_threshold_reaching_the_coverage(target, ties):
    confidence, correct = random_case(101, seed=3, ties=ties)
    points = reference_points(confidence.tolist(), correct.tolist())
    expected = next(risk for cov, risk, _ in points if cov * 101 >= math.ceil(target * 101))
    assert metrics.risk_at_coverage(confidence, correct, target) == pytest.approx(expected)


@pytest.mark.parametrize("target", [0.0, 0.05, 0.2, 0.3, 1.0])
@pytest.mark.parametrize("ties", [False, True])
def test_coverage_at_risk_is_the_largest_threshold_coverage_within_the_risk(target, ties):
    confidence, correct = random_case(120, seed=4, ties=ties)
    ok = [cov for cov, risk, _ in reference_points(confidence.tolist(), correct.tolist()) if risk <= target]
    assert metrics.coverage_at_risk(confidence, correct, target) == pytest.approx(max(ok) if ok else 0.0)


def every_metric(confidence, correct):
    coverage, risk = metrics.risk_coverage_curve(confidence, correct)
    return (
        tuple(coverage),
        tuple(risk),
        metrics.aurc(confidence, correct),
        metrics.augrc(confidence, correct),
        *(metrics.risk_at_coverage(confidence, correct, c) for c in (0.1, 0.3, 0.5, 0.8)),
        *(metrics.coverage_at_risk(confidence, correct, r) for r in (0.0, 0.05, 0.2, 0.3)),
    )


@pytest.mark.parametrize("case", ["seven", "quarters", "two_values"])
def test_every_metric_is_a_function_of_the_set_of_rows(case):
    rng = np.random.default_rng(7)
    confidence, correct = {
        "seven": (np.array(SEVEN[0]), np.array(SEVEN[1])),
        "quarters": random_case(60, seed=8, ties=True),
        "two_values": (rng.integers(0, 2, 40) * 0.5 + 0.4, rng.random(40) < 0.8),
    }[case]
    expected = every_metric(confidence, correct)
    for _ in range(20):
        order = rng.permutation(len(confidence))
        assert every_metric(confidence[order], correct[order]) == expected


@pytest.mark.parametrize(
    "confidence,correct,aurc,augrc",
    [
        (np.linspace(1, 0, 9), np.ones(9, bool), 0.0, 0.0),  # all correct
        (np.linspace(1, 0, 9), np.zeros(9, bool), 1.0, 0.5),  # all wrong: generalized risk = coverage
        ([0.7], [True], 0.0, 0.0),  # one row
        ([0.7], [False], 1.0, 0.5),
        (np.full(10, 0.3), np.arange(10) < 6, 0.4, 0.2),  # all tied: one point (1, error rate)
    ],
)
def test_edge_cases(confidence, correct, aurc, augrc):
    assert metrics.aurc(confidence, correct) == pytest.approx(aurc, abs=1e-15)
    assert metrics.augrc(confidence, correct) == pytest.approx(augrc, abs=1e-15)
    assert metrics.aurc(confidence, correct) == pytest.approx(reference_aurc(list(confidence), list(correct)))
    assert metrics.augrc(confidence, correct) == pytest.approx(reference_augrc(list(confidence), list(correct)))


def test_all_tied_rows_form_one_step():
    confidence, correct = np.full(10, 0.3), np.arange(10) < 6
    coverage, risk = metrics.risk_coverage_curve(confidence, correct)
    np.testing.assert_allclose(coverage, [1.0])
    np.testing.assert_allclose(risk, [0.4])
    assert metrics.coverage_at_risk(confidence, correct, 0.39) == 0.0
    assert metrics.coverage_at_risk(confidence, correct, 0.4) == 1.0
    assert metrics.risk_at_coverage(confidence, correct, 0.1) == pytest.approx(0.4)


@pytest.mark.parametrize("n,num_errors", [(10, 2), (37, 11), (100, 1)])
def test_a_perfect_ranking_scores_the_papers_optimal_augrc(n, num_errors):
    # errors ranked last: AUGRC = error_rate**2 / 2 (Traub et al.'s optimum), risk 0 up to the accuracy
    confidence, correct = np.linspace(1, 0, n), np.arange(n) < n - num_errors
    assert metrics.augrc(confidence, correct) == pytest.approx(0.5 * (num_errors / n) ** 2)
    assert metrics.coverage_at_risk(confidence, correct, 0.0) == pytest.approx((n - num_errors) / n)
    assert metrics.risk_at_coverage(confidence, correct, (n - num_errors) / n) == 0.0
    assert metrics.aurc(confidence, correct) < metrics.aurc(-confidence, correct)


def test_without_ties_aurc_is_geifmans_mean_risk_plus_the_end_trapezoids():
    confidence, correct = random_case(50, seed=9)
    _, risk = metrics.risk_coverage_curve(confidence, correct)
    assert len(risk) == 50
    assert metrics.aurc(confidence, correct) == pytest.approx(np.mean(risk) + (risk[0] - risk[-1]) / 100)


@pytest.mark.parametrize(
    "make",
    [np.float16, np.float32, np.float64, lambda v: np.asarray(v, np.float32), float],
    ids=["float16", "float32", "float64", "0-d float32 array", "float"],
)
def test_numpy_scalar_targets_read_as_their_decimal(make):
    # float32(0.8) = 0.800000012: ceil(0.800000012 * 10) would ask for 9 of the 10 rows
    confidence, correct = np.linspace(1, 0, 10), np.arange(10) < 8
    assert metrics.risk_at_coverage(confidence, correct, make(0.8)) == 0.0
    assert metrics.risk_at_coverage(confidence, correct, np.int64(1)) == pytest.approx(0.2)
    # float32(0.7) = 0.699999988 is below the full-coverage risk 7/10
    assert metrics.coverage_at_risk(confidence, np.arange(10) >= 7, make(0.7)) == 1.0


def _selective_calls():
    """Every function of `keras_mimo.metrics.selective`, called on (confidence, correct)."""
    return {
        "risk_coverage_curve": metrics.risk_coverage_curve,
        "aurc": metrics.aurc,
        "augrc": metrics.augrc,
        "risk_at_coverage": metrics.risk_at_coverage,
        "coverage_at_risk": metrics.coverage_at_risk,
    }


BAD_ROWS = [
    # (confidence, correct, error, pattern naming the argument and what was received)
    ([0.1, 0.2], [True], ValueError, r"same length.*2 confidences and 1 correctness"),
    ([], [], ValueError, r"`confidence` is empty"),
    ([[0.1]], [[True]], ValueError, r"`confidence` must be a 1-D array.*\(1, 1\)"),
    ([0.1, 0.2], [[True, False]], ValueError, r"`correct` must be a 1-D array.*\(1, 2\)"),
    ([0.5, np.nan], [True, False], ValueError, r"`confidence` must be finite.*1 NaN.*index 1"),
    ([np.inf, 0.5], [True, False], ValueError, r"`confidence` must be finite.*1 infinite.*index 0"),
    ([0.5, -np.inf], [True, False], ValueError, r"`confidence` must be finite.*1 infinite"),
    ([0.5, 0.2], [2, 0], ValueError, r"`correct` must be booleans.*\[2\]"),
    ([0.5, 0.2], [np.nan, 1.0], ValueError, r"`correct` must be booleans.*\[nan\]"),
    ([0.5, 0.2], ["yes", "no"], TypeError, r"`correct` must be booleans.*dtype <U3"),
    (["a", "b"], [True, False], TypeError, r"`confidence` must hold real numbers.*'a'"),
    (None, [True], TypeError, r"`confidence` must hold real numbers.*None"),
    ([0.5, 1j], [True, False], TypeError, r"`confidence` must hold real numbers.*complex"),
    ([[0.1], [0.2, 0.3]], [True, False], ValueError, r"`confidence` must be a rectangular array"),
    ([0.1, 0.2], [[True], [True, False]], ValueError, r"`correct` must be a rectangular array"),
]


@pytest.mark.parametrize("name", list(_selective_calls()))
@pytest.mark.parametrize("confidence,correct,error,match", BAD_ROWS)
def test_bad_rows_name_the_argument_and_the_value(name, confidence, correct, error, match):
    with pytest.raises(error, match=match):
        _selective_calls()[name](confidence, correct)


@pytest.mark.parametrize(
    "fn,kwargs,error,match",
    [
        (
            metrics.risk_at_coverage,
            {"coverage": 0.0},
            ValueError,
            r"`coverage` must be a float in \(0, 1\]. Received: coverage=0.0",
        ),
        (metrics.risk_at_coverage, {"coverage": -0.2}, ValueError, r"coverage=-0.2"),
        (metrics.risk_at_coverage, {"coverage": 1.5}, ValueError, r"coverage=1.5"),
        (metrics.risk_at_coverage, {"coverage": np.float32(1.5)}, ValueError, r"coverage=.*1.5"),
        (metrics.risk_at_coverage, {"coverage": float("nan")}, ValueError, r"coverage=nan"),
        (metrics.risk_at_coverage, {"coverage": float("inf")}, ValueError, r"coverage=inf"),
        (metrics.risk_at_coverage, {"coverage": "0.8"}, TypeError, r"coverage='0.8' of type str"),
        (metrics.risk_at_coverage, {"coverage": None}, TypeError, r"coverage=None of type NoneType"),
        (metrics.risk_at_coverage, {"coverage": True}, TypeError, r"coverage=True of type bool"),
        (metrics.risk_at_coverage, {"coverage": np.array([0.8])}, TypeError, r"coverage=array\(\[0.8\]\)"),
        (
            metrics.coverage_at_risk,
            {"risk": -0.1},
            ValueError,
            r"`risk` must be a float in \[0, 1\]. Received: risk=-0.1",
        ),
        (metrics.coverage_at_risk, {"risk": 1.01}, ValueError, r"risk=1.01"),
        (metrics.coverage_at_risk, {"risk": np.float64(-1)}, ValueError, r"risk=.*-1"),
        (metrics.coverage_at_risk, {"risk": float("nan")}, ValueError, r"risk=nan"),
        (metrics.coverage_at_risk, {"risk": "0.05"}, TypeError, r"risk='0.05' of type str"),
        (metrics.coverage_at_risk, {"risk": np.bool_(False)}, TypeError, r"of type bool"),
    ],
)
def test_bad_targets_name_the_argument_and_the_value(fn, kwargs, error, match):
    with pytest.raises(error, match=match):
        fn([0.5, 0.2], [True, False], **kwargs)
