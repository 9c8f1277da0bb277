"""Ensembles: how keras-mimo reads models as ensembles and what it computes from their members.

The one owner of the concept:

- `as_ensemble(model_or_models, from_logits=None)` -> `EnsembleReader`: a
  `MIMOModel`, a plain model or a list of models (a deep ensemble) as one
  object with the members' outputs, numpy (`member_probabilities`,
  `member_gaussians`, ...) and symbolic (`Ensemble`).
- The ensemble methods (`ENSEMBLE_METHODS`): how each output form reads as
  probabilities, log-probabilities or a Gaussian, and how members combine
  (`combine_members`).
- The predictive quantities, each written once in `keras.ops` (float32, any
  backend, symbolic or eager): `ensemble_probabilities`, `log_mean_exp`,
  `entropy`, `expected_entropy`, `mutual_information`, `gaussian_moments`,
  `moment_matched`; numpy callers convert with `to_numpy`.

Shapes: member outputs `(N, M, ...)`, the members on axis 1.
"""

from keras_mimo.ensembles.layer import Ensemble
from keras_mimo.ensembles.methods import ENSEMBLE_METHODS
from keras_mimo.ensembles.methods import check_ensemble_method
from keras_mimo.ensembles.methods import combine_members
from keras_mimo.ensembles.methods import default_ensemble_method
from keras_mimo.ensembles.methods import gaussian_parameters
from keras_mimo.ensembles.methods import logits_method
from keras_mimo.ensembles.methods import to_log_probabilities
from keras_mimo.ensembles.methods import to_probabilities
from keras_mimo.ensembles.quantities import MIN_STD
from keras_mimo.ensembles.quantities import TINY
from keras_mimo.ensembles.quantities import ensemble_probabilities
from keras_mimo.ensembles.quantities import entropy
from keras_mimo.ensembles.quantities import expected_entropy
from keras_mimo.ensembles.quantities import gaussian_moments
from keras_mimo.ensembles.quantities import log_mean_exp
from keras_mimo.ensembles.quantities import log_probabilities
from keras_mimo.ensembles.quantities import moment_matched
from keras_mimo.ensembles.quantities import mutual_information
from keras_mimo.ensembles.quantities import split_gaussian
from keras_mimo.ensembles.quantities import to_numpy
from keras_mimo.ensembles.reading import EnsembleReader
from keras_mimo.ensembles.reading import as_ensemble

__all__ = [
    "ENSEMBLE_METHODS",
    "MIN_STD",
    "TINY",
    "EnsembleReader",
    "Ensemble",
    "as_ensemble",
    "check_ensemble_method",
    "combine_members",
    "default_ensemble_method",
    "ensemble_probabilities",
    "entropy",
    "expected_entropy",
    "gaussian_moments",
    "gaussian_parameters",
    "log_mean_exp",
    "log_probabilities",
    "logits_method",
    "moment_matched",
    "mutual_information",
    "split_gaussian",
    "to_log_probabilities",
    "to_numpy",
    "to_probabilities",
]
