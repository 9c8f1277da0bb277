"""Deprecated (until 0.3.0): the predictive quantities moved to `keras_mimo.ensembles`.

`keras_mimo.predictive.<name>` still reads, with a `DeprecationWarning`
naming the new home; `ensemble_log_probabilities` is now
`keras_mimo.ensembles.log_mean_exp`, `class_scores` is
`keras_mimo.conformal.class_scores` (numpy) and `scaled_log_probabilities`
is `keras_mimo.calibration.scaled_log_probabilities` (numpy).
"""

from keras_mimo import _deprecation

__getattr__ = _deprecation.redirect(
    __name__,
    {
        "MIN_STD": "keras_mimo.ensembles.MIN_STD",
        "TINY": "keras_mimo.ensembles.TINY",
        "ensemble_log_probabilities": "keras_mimo.ensembles.log_mean_exp",
        "ensemble_probabilities": "keras_mimo.ensembles.ensemble_probabilities",
        "entropy": "keras_mimo.ensembles.entropy",
        "expected_entropy": "keras_mimo.ensembles.expected_entropy",
        "gaussian_moments": "keras_mimo.ensembles.gaussian_moments",
        "log_probabilities": "keras_mimo.ensembles.log_probabilities",
        "moment_matched": "keras_mimo.ensembles.moment_matched",
        "mutual_information": "keras_mimo.ensembles.mutual_information",
        "split_gaussian": "keras_mimo.ensembles.split_gaussian",
        "to_numpy": "keras_mimo.ensembles.to_numpy",
        "class_scores": "keras_mimo.conformal.class_scores",
        "scaled_log_probabilities": "keras_mimo.calibration.scaled_log_probabilities",
        "CONFORMAL_SCORES": "keras_mimo.conformal.SCORES",
    },
)
