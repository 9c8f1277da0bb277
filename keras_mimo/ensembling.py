"""Deprecated (until 0.3.0): the ensemble methods moved to `keras_mimo.ensembles`.

`keras_mimo.ensembling.<name>` still reads, with a `DeprecationWarning`
naming the new home (the same object).
"""

from keras_mimo import _deprecation

__getattr__ = _deprecation.redirect(
    __name__,
    {
        name: f"keras_mimo.ensembles.{name}"
        for name in (
            "ENSEMBLE_METHODS",
            "MIN_STD",
            "check_ensemble_method",
            "combine_members",
            "default_ensemble_method",
            "gaussian_parameters",
            "logits_method",
            "split_gaussian",
            "to_log_probabilities",
            "to_probabilities",
        )
    },
)
