"""Selective prediction: risk and coverage when the model may abstain (numpy).

A selective classifier answers only on the rows it is most confident about.
Sorting the rows by decreasing `confidence` (a stable sort: ties keep their
order) and answering on the top `k` gives coverage `k / N` and selective
risk = the error rate among those `k` rows. Lower risk at a given coverage
means the confidence ranks errors last: the uncertainty is actionable.

References:
    Geifman & El-Yaniv, "Selective classification for deep neural networks",
    NeurIPS 2017 (risk-coverage curve, AURC: Geifman et al., ICLR 2019);
    Traub et al., "Overcoming common flaws in the evaluation of selective
    classification systems", NeurIPS 2024 (AUGRC).
"""

import math

import numpy as np

__all__ = [
    "augrc",
    "aurc",
    "coverage_at_risk",
    "risk_at_coverage",
    "risk_coverage_curve",
]


def _checked(confidence, correct):
    """`(confidence float64 (N,), correct bool (N,))`, validated."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct)
    if confidence.ndim != 1 or correct.ndim != 1:
        raise ValueError(
            "`confidence` and `correct` must be 1-D arrays (N,). Received shapes "
            f"{confidence.shape} and {correct.shape}."
        )
    if len(confidence) != len(correct):
        raise ValueError(
            f"`confidence` and `correct` must have the same length. Received {len(confidence)} and {len(correct)}."
        )
    if not len(confidence):
        raise ValueError("`confidence` and `correct` are empty: selective metrics need at least one row.")
    if np.isnan(confidence).any():
        raise ValueError(f"`confidence` holds {int(np.isnan(confidence).sum())} NaN values.")
    if correct.dtype != bool:
        if not np.isin(correct, (0, 1)).all():
            raise ValueError("`correct` must be booleans (or 0/1): whether each prediction is right.")
        correct = correct.astype(bool)
    return confidence, correct


def _cumulative_errors(confidence, correct):
    """Errors among the top k rows by decreasing confidence, k = 1..N."""
    order = np.argsort(-confidence, kind="stable")
    return np.cumsum(~correct[order])


def risk_coverage_curve(confidence, correct) -> tuple:
    """The risk-coverage curve.

    Args:
        confidence: `(N,)` floats, higher = more confident.
        correct: `(N,)` bools, whether each prediction is right.

    Returns:
        `(coverage, risk)`, float64 arrays `(N,)`: `coverage[k-1] = k / N`,
        `risk[k-1]` = errors among the `k` most confident rows / `k`.
    """
    confidence, correct = _checked(confidence, correct)
    k = np.arange(1, len(confidence) + 1)
    return k / len(k), _cumulative_errors(confidence, correct) / k


def aurc(confidence, correct) -> float:
    """Area under the risk-coverage curve: the mean selective risk over k = 1..N (lower is better)."""
    return float(np.mean(risk_coverage_curve(confidence, correct)[1]))


def augrc(confidence, correct) -> float:
    """Area under the generalized risk-coverage curve (lower is better).

    The mean over k = 1..N of (errors among the top k) / N: the rate of
    silent failures (accepted and wrong) over all rows, averaged over
    coverages (Traub et al., 2024).
    """
    confidence, correct = _checked(confidence, correct)
    return float(np.mean(_cumulative_errors(confidence, correct)) / len(confidence))


def risk_at_coverage(confidence, correct, coverage: float = 0.8) -> float:
    """Selective risk of the `ceil(coverage * N)` most confident rows (lower is better)."""
    if (
        isinstance(coverage, bool)
        or not isinstance(coverage, (int, float, np.floating, np.integer))
        or not (0.0 < float(coverage) <= 1.0)
    ):
        raise ValueError(f"`coverage` must be a float in (0, 1]. Received: coverage={coverage!r}")
    confidence, correct = _checked(confidence, correct)
    n = len(confidence)
    # the tolerance keeps float noise (0.7 * 10 = 7.000000000000001) from adding a row
    k = max(1, math.ceil(float(coverage) * n - 1e-9))
    return float(_cumulative_errors(confidence, correct)[k - 1] / k)


def coverage_at_risk(confidence, correct, risk: float = 0.05) -> float:
    """The largest coverage `k / N` whose selective risk is <= `risk` (0.0 if none; higher is better)."""
    if (
        isinstance(risk, bool)
        or not isinstance(risk, (int, float, np.floating, np.integer))
        or not (0.0 <= float(risk) <= 1.0)
    ):
        raise ValueError(f"`risk` must be a float in [0, 1]. Received: risk={risk!r}")
    coverage, curve = risk_coverage_curve(confidence, correct)
    ok = np.flatnonzero(curve <= float(risk) + 1e-12)
    return float(coverage[ok[-1]]) if len(ok) else 0.0
