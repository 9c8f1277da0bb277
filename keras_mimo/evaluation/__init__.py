"""Ensemble evaluation: accuracy, likelihood, calibration, diversity, OOD, corruptions."""

from keras_mimo.evaluation.corruptions import CORRUPTIONS
from keras_mimo.evaluation.corruptions import SEVERITIES
from keras_mimo.evaluation.corruptions import aggregate_corruption_results
from keras_mimo.evaluation.corruptions import corrupt_images
from keras_mimo.evaluation.corruptions import corrupted_sets
from keras_mimo.evaluation.corruptions import evaluate_corruptions
from keras_mimo.evaluation.corruptions import load_tfds_cifar10_corrupted
from keras_mimo.evaluation.evaluate import evaluate_ensemble
from keras_mimo.evaluation.evaluate import reliability_bins
from keras_mimo.evaluation.evaluate import scores_from_probabilities
from keras_mimo.evaluation.predictions import member_predictions
from keras_mimo.evaluation.predictions import member_probabilities
from keras_mimo.evaluation.regression import evaluate_regression
from keras_mimo.evaluation.regression import member_gaussians
from keras_mimo.metrics.ood import ood_scores

__all__ = [
    "CORRUPTIONS",
    "SEVERITIES",
    "aggregate_corruption_results",
    "corrupt_images",
    "corrupted_sets",
    "evaluate_corruptions",
    "evaluate_ensemble",
    "evaluate_regression",
    "load_tfds_cifar10_corrupted",
    "member_gaussians",
    "member_predictions",
    "member_probabilities",
    "ood_scores",
    "reliability_bins",
    "scores_from_probabilities",
]
