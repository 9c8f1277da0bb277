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
from keras_mimo.evaluation.predictions import member_probabilities
from keras_mimo.metrics.ood import ood_scores
from keras_mimo.evaluation.regression import evaluate_regression
from keras_mimo.evaluation.regression import member_gaussians
