"""Uncertainty metrics: streaming Keras metrics and ensemble-level functions.

Streaming metrics (usable in `compile(metrics=...)`):
`ExpectedCalibrationError`, `NegativeLogLikelihood`, `BrierScore`, and their
per-example functions `negative_log_likelihood`, `brier_score`; for Gaussian
(regression) heads `GaussianNLL` and `CRPS` (`gaussian_crps`).

Functions of member probabilities `(N, M, K)` (numpy): the diversity and
uncertainty measures `entropy`, `mutual_information`, `disagreement`,
`average_kl`, `cosine_similarity`; OOD detection on scores `(N,)` (higher =
more OOD) `auroc`, `aupr_in`, `aupr_out`, `fpr_at_95_tpr`, and `ood_scores`
(`aupr` is a deprecated alias of `aupr_out`).

Selective prediction on confidences `(N,)` and correctness `(N,)` (numpy):
`risk_coverage_curve`, `aurc`, `augrc`, `risk_at_coverage`,
`coverage_at_risk` (one step per distinct confidence: independent of the row
order); and `adaptive_calibration_error` (equal-mass bins).
"""

from keras_mimo.metrics.calibration import ExpectedCalibrationError
from keras_mimo.metrics.diversity import average_kl
from keras_mimo.metrics.diversity import cosine_similarity
from keras_mimo.metrics.diversity import disagreement
from keras_mimo.metrics.diversity import entropy
from keras_mimo.metrics.diversity import mutual_information
from keras_mimo.metrics.likelihood import BrierScore
from keras_mimo.metrics.likelihood import NegativeLogLikelihood
from keras_mimo.metrics.likelihood import brier_score
from keras_mimo.metrics.likelihood import negative_log_likelihood
from keras_mimo.metrics.ood import aupr
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
    "aupr",
    "aupr_in",
    "aupr_out",
    "aurc",
    "auroc",
    "average_kl",
    "brier_score",
    "cosine_similarity",
    "coverage_at_risk",
    "disagreement",
    "entropy",
    "fpr_at_95_tpr",
    "gaussian_crps",
    "mutual_information",
    "negative_log_likelihood",
    "ood_scores",
    "risk_at_coverage",
    "risk_coverage_curve",
]
