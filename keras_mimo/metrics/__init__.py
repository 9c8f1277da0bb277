"""Uncertainty metrics: streaming Keras metrics and ensemble-level functions.

Streaming metrics (usable in `compile(metrics=...)`):
`ExpectedCalibrationError`, `NegativeLogLikelihood`, `BrierScore`, and their
per-example functions `negative_log_likelihood`, `brier_score`; for Gaussian
(regression) heads `GaussianNLL` and `CRPS` (`gaussian_crps`).

Functions of member probabilities `(N, M, K)` (numpy): the diversity
measures `disagreement`, `average_kl`, `cosine_similarity` (the uncertainty
measures `entropy` and `mutual_information` moved to
`keras_mimo.ensembles`; their names here are deprecated aliases that return
numpy arrays, until 0.3.0); OOD detection on scores `(N,)` (higher =
more OOD) `auroc`, `aupr_in`, `aupr_out`, `fpr_at_95_tpr`, and `ood_scores`
(`aupr` is a deprecated alias of `aupr_out`).

Selective prediction on confidences `(N,)` and correctness `(N,)` (numpy):
`risk_coverage_curve`, `aurc`, `augrc`, `risk_at_coverage`,
`coverage_at_risk` (one step per distinct confidence: independent of the row
order); and `adaptive_calibration_error` (equal-mass bins).
"""

import warnings

from keras_mimo import ensembles
from keras_mimo.metrics import diversity
from keras_mimo.metrics.calibration import ExpectedCalibrationError
from keras_mimo.metrics.diversity import average_kl
from keras_mimo.metrics.diversity import cosine_similarity
from keras_mimo.metrics.diversity import disagreement
from keras_mimo.metrics.likelihood import BrierScore
from keras_mimo.metrics.likelihood import NegativeLogLikelihood
from keras_mimo.metrics.likelihood import brier_score
from keras_mimo.metrics.likelihood import negative_log_likelihood
from keras_mimo.metrics.ood import aupr  # noqa: F401  (a deprecated alias of aupr_out until 0.3.0: not in __all__)
from keras_mimo.metrics.ood import aupr_in
from keras_mimo.metrics.ood import aupr_out
from keras_mimo.metrics.ood import auroc
from keras_mimo.metrics.ood import fpr_at_95_tpr
from keras_mimo.metrics.ood import ood_scores
from keras_mimo.metrics.regression import CRPS
from keras_mimo.metrics.regression import GaussianNLL
from keras_mimo.metrics.regression import gaussian_crps
from keras_mimo.metrics.calibration import adaptive_calibration_error
from keras_mimo.metrics.selective import augrc
from keras_mimo.metrics.selective import aurc
from keras_mimo.metrics.selective import coverage_at_risk
from keras_mimo.metrics.selective import risk_at_coverage
from keras_mimo.metrics.selective import risk_coverage_curve

__all__ = [
    "BrierScore",
    "CRPS",
    "ExpectedCalibrationError",
    "GaussianNLL",
    "NegativeLogLikelihood",
    "adaptive_calibration_error",
    "augrc",
    "aupr_in",
    "aupr_out",
    "aurc",
    "auroc",
    "average_kl",
    "brier_score",
    "cosine_similarity",
    "coverage_at_risk",
    "disagreement",
    "fpr_at_95_tpr",
    "gaussian_crps",
    "negative_log_likelihood",
    "ood_scores",
    "risk_at_coverage",
    "risk_coverage_curve",
]

_MOVED_TO_ENSEMBLES = {"entropy": False, "mutual_information": True}  # name -> whether it takes a member axis


def __getattr__(name: str):
    """`entropy` and `mutual_information`: deprecated aliases (until 0.3.0) of `keras_mimo.ensembles`' on numpy."""
    if name in _MOVED_TO_ENSEMBLES:
        warnings.warn(
            f"keras_mimo.metrics.{name} is deprecated and will be removed in 0.3.0: use "
            f"keras_mimo.ensembles.{name} (a keras.ops tensor; keras_mimo.ensembles.to_numpy converts it).",
            DeprecationWarning,
            stacklevel=2,
        )
        return diversity.numpy_quantity(getattr(ensembles, name), _MOVED_TO_ENSEMBLES[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
