"""keras-mimo: MIMO ensembles for Keras 3.

One network with `ensemble_size` input slots and output heads, trained on
independently shuffled examples, holds that many independent subnetworks;
one forward pass at test time gives their ensemble (Havasi et al., ICLR 2021).
"""

from keras_mimo import applications
from keras_mimo import batching
from keras_mimo import calibration
from keras_mimo import conformal
from keras_mimo import datasets
from keras_mimo import ensembles
from keras_mimo import evaluation
from keras_mimo import losses
from keras_mimo import metrics
from keras_mimo import mixing
from keras_mimo.batching import mimo_batch_indices
from keras_mimo.convert import convert
from keras_mimo.ensembles import combine_members
from keras_mimo.evaluation import evaluate_ensemble
from keras_mimo.evaluation import evaluate_regression
from keras_mimo.layers import MIMOHead
from keras_mimo.layers import MIMOInput
from keras_mimo.layers import MixMoInput
from keras_mimo.layers import MixMoSchedule
from keras_mimo.model import MIMOModel
from keras_mimo import uncertainty
from keras_mimo.uncertainty import with_uncertainty
from keras_mimo.version import __version__

__all__ = [
    "MIMOHead",
    "MIMOInput",
    "MIMOModel",
    "MixMoInput",
    "MixMoSchedule",
    "__version__",
    "applications",
    "batching",
    "calibration",
    "combine_members",
    "conformal",
    "convert",
    "datasets",
    "ensembles",
    "evaluate_ensemble",
    "evaluate_regression",
    "evaluation",
    "losses",
    "metrics",
    "mixing",
    "mimo_batch_indices",
    "uncertainty",
    "with_uncertainty",
]

# 0.1 modules kept until 0.3.0 (`keras_mimo.predictive.entropy` warns and reads the new home)
_DEPRECATED_MODULES = ("distribution", "ensembling", "predictive")


def __getattr__(name: str):
    if name in _DEPRECATED_MODULES:
        import importlib

        return importlib.import_module(f"keras_mimo.{name}")
    raise AttributeError(f"module 'keras_mimo' has no attribute {name!r}")
