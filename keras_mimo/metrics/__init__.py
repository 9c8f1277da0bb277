"""Streaming uncertainty metrics, usable in `compile(metrics=...)`."""

from keras_mimo.metrics.calibration import ExpectedCalibrationError
from keras_mimo.metrics.likelihood import BrierScore
from keras_mimo.metrics.likelihood import NegativeLogLikelihood
