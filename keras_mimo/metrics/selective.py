"""Selective prediction: risk and coverage when the model may abstain (numpy).

A selective classifier answers on the rows whose `confidence` reaches a
threshold `t`. Each distinct confidence value is one threshold, so rows with
tied confidences are accepted or rejected together: every metric here is a
function of the set of `(confidence, correct)` pairs, not of the row order.
At threshold `t`, coverage = the fraction of rows with `confidence >= t`,
selective risk = the error rate among them, and generalized risk = the rows
accepted and wrong over all `N` rows. Lower risk at a given coverage means the
confidence ranks errors last: the uncertainty is actionable.

The risk-coverage curve has one point per distinct confidence. `aurc` and
`augrc` integrate it with the trapezoidal rule down to coverage 0, as the
reference implementation of Traub et al. does (fd-shifts, `RiskCoverageStats`:
`aurc`, `augrc`): the selective-risk curve is held constant below its
lowest coverage, the generalized-risk curve ends at `(0, 0)`.

References:
    Geifman & El-Yaniv, "Selective classification for deep neural networks",
    NeurIPS 2017 (risk-coverage curve, AURC: Geifman et al., ICLR 2019);
    Traub et al., "Overcoming common flaws in the evaluation of selective
    classification systems", NeurIPS 2024 (AUGRC; github.com/IML-DKFZ/fd-shifts).
"""

import math
import numbers

import numpy as np

from keras_mimo.metrics._inputs import as_array
from keras_mimo.metrics._inputs import finite_1d

__all__ = [
    "augrc",
    "aurc",
    "coverage_at_risk",
    "risk_at_coverage",
    "risk_coverage_curve",
]


def _target_fraction(value, name: str, *, include_zero: bool) -> float:
    """A Python float in `[0, 1]` (`(0, 1]` unless `include_zero`), else a clear error naming `name`.

    Python and numpy real scalars (and 0-d arrays) are accepted. A float16 or
    float32 scalar is read as the decimal it prints as: `np.float32(0.8)` is
    0.8, not 0.800000011920929 (which would add a row at `ceil(0.8 * N)`).
    """
    interval = "[0, 1]" if include_zero else "(0, 1]"
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"`{name}` must be a float in {interval}. Received: {name}={value!r} of type {type(value).__name__}"
        )
    if isinstance(value, np.floating) and np.finfo(value.dtype).bits < 64:
        number = float(str(value))
    else:
        number = float(value)
    if not math.isfinite(number) or not (0.0 <= number <= 1.0) or (number == 0.0 and not include_zero):
        raise ValueError(f"`{name}` must be a float in {interval}. Received: {name}={value!r}")
    return number


def _checked(confidence, correct):
    """`(confidence float64 (N,), correct bool (N,))`, validated."""
    confidence = finite_1d(confidence, "confidence")
    correct_values = as_array(correct, "correct")
    if correct_values.ndim != 1:
        raise ValueError(f"`correct` must be a 1-D array (N,). Received shape {correct_values.shape}.")
    if len(confidence) != len(correct_values):
        raise ValueError(
            "`confidence` and `correct` must have the same length. "
            f"Received {len(confidence)} confidences and {len(correct_values)} correctness values."
        )
    if correct_values.dtype == bool:
        return confidence, correct_values
    if correct_values.dtype.kind not in "iuf":
        raise TypeError(
            "`correct` must be booleans (or 0/1): whether each prediction is right. "
            f"Received an array of dtype {correct_values.dtype}."
        )
    bad = ~np.isin(correct_values, (0, 1))
    if bad.any():
        raise ValueError(
            "`correct` must be booleans (or 0/1): whether each prediction is right. "
            f"Received {int(bad.sum())} other values, e.g. {correct_values[bad][:3].tolist()}."
        )
    return confidence, correct_values.astype(bool)


def _curve_points(confidence, correct):
    """Per distinct confidence `t`, highest first: (rows with confidence >= t, errors among them)."""
    order = np.argsort(-confidence, kind="stable")
    sorted_confidence = confidence[order]
    errors = np.cumsum(~correct[order])
    # the last row of each run of tied confidences closes one threshold's step
    last = np.r_[np.flatnonzero(sorted_confidence[1:] != sorted_confidence[:-1]), len(confidence) - 1]
    return (last + 1).astype(np.float64), errors[last].astype(np.float64)


def _trapezoid(x, y) -> float:
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))


def risk_coverage_curve(confidence, correct) -> tuple:
    """The risk-coverage curve: one point per distinct confidence value.

    Args:
        confidence: `(N,)` finite floats, higher = more confident.
        correct: `(N,)` bools (or 0/1), whether each prediction is right.

    Returns:
        `(coverage, risk)`, float64 arrays `(J,)`, J = the number of distinct
        confidences, by increasing coverage: for the j-th highest confidence
        `t_j`, `coverage[j] = #{confidence >= t_j} / N` and `risk[j]` = the
        error rate among those rows. Tied rows enter together, so the curve
        does not depend on the row order; without ties J = N and
        `coverage = (1, ..., N) / N`.
    """
    confidence, correct = _checked(confidence, correct)
    accepted, errors = _curve_points(confidence, correct)
    return accepted / len(confidence), errors / accepted


def aurc(confidence, correct) -> float:
    """Area under the risk-coverage curve (lower is better).

    The trapezoidal area under the points of `risk_coverage_curve`, with the
    risk held constant from the lowest coverage down to coverage 0: fd-shifts'
    `RiskCoverageStats.aurc` (Traub et al., 2024) without its x1000 display
    scale. Without ties it differs from Geifman et al.'s mean of the risk over
    k = 1..N by `(risk[0] - risk[-1]) / (2N)`.

    Args:
        confidence: `(N,)` finite floats, higher = more confident.
        correct: `(N,)` bools (or 0/1).

    Returns:
        A float in [0, 1]; the same for every order of the rows.
    """
    coverage, risk = risk_coverage_curve(confidence, correct)
    return _trapezoid(np.r_[0.0, coverage], np.r_[risk[0], risk])


def augrc(confidence, correct) -> float:
    """Area under the generalized risk-coverage curve (lower is better).

    Generalized risk at threshold `t` = rows accepted (`confidence >= t`) and
    wrong over all `N` rows: the rate of silent failures. The area is the
    trapezoidal rule over one point per distinct confidence plus `(0, 0)`, as
    in fd-shifts' `RiskCoverageStats.augrc` (Traub et al., NeurIPS 2024), without
    its x1000 display scale. A perfect ranking scores `error_rate**2 / 2`.

    Args:
        confidence: `(N,)` finite floats, higher = more confident.
        correct: `(N,)` bools (or 0/1).

    Returns:
        A float in [0, 0.5]; the same for every order of the rows.
    """
    confidence, correct = _checked(confidence, correct)
    accepted, errors = _curve_points(confidence, correct)
    n = len(confidence)
    return _trapezoid(np.r_[0.0, accepted / n], np.r_[0.0, errors / n])


def risk_at_coverage(confidence, correct, coverage: float = 0.8) -> float:
    """Selective risk at the highest threshold whose coverage reaches `coverage` (lower is better).

    Without ties: the error rate of the `ceil(coverage * N)` most confident
    rows. With ties the whole tied group at the threshold is answered, so the
    accepted rows may exceed `ceil(coverage * N)`.

    Args:
        confidence: `(N,)` finite floats, higher = more confident.
        correct: `(N,)` bools (or 0/1).
        coverage: the target coverage, a float (Python or numpy) in (0, 1].

    Returns:
        A float in [0, 1].
    """
    coverage = _target_fraction(coverage, "coverage", include_zero=False)
    confidence, correct = _checked(confidence, correct)
    accepted, errors = _curve_points(confidence, correct)
    # the tolerance keeps float noise (0.7 * 10 = 7.000000000000001) from adding a row
    needed = max(1, math.ceil(coverage * len(confidence) - 1e-9))
    j = int(np.argmax(accepted >= needed))
    return float(errors[j] / accepted[j])


def coverage_at_risk(confidence, correct, risk: float = 0.05) -> float:
    """The largest coverage of a threshold whose selective risk is `<= risk` (higher is better).

    A threshold answers on every row with `confidence >= t`, so the coverage
    is one of the `risk_coverage_curve` points; 0.0 if no threshold meets the risk.

    Args:
        confidence: `(N,)` finite floats, higher = more confident.
        correct: `(N,)` bools (or 0/1).
        risk: the target selective risk, a float (Python or numpy) in [0, 1].

    Returns:
        A float in [0, 1].
    """
    risk = _target_fraction(risk, "risk", include_zero=True)
    coverage, curve = risk_coverage_curve(confidence, correct)
    ok = np.flatnonzero(curve <= risk + 1e-12)
    return float(coverage[ok[-1]]) if len(ok) else 0.0
