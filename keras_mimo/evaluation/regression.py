"""`evaluate_regression`: accuracy and uncertainty of Gaussian regression ensembles."""

import math

import keras
import numpy as np

from keras_mimo._validation import check_inputs
from keras_mimo._validation import check_positive_int
from keras_mimo._validation import check_targets
from keras_mimo._validation import check_y_scale
from keras_mimo.ensembles import gaussian_moments
from keras_mimo.ensembles import log_mean_exp
from keras_mimo.ensembles import to_numpy
from keras_mimo.ensembles.reading import EnsembleReader
from keras_mimo.losses import gaussian_nll
from keras_mimo.metrics.regression import gaussian_crps

__all__ = ["evaluate_regression", "member_gaussians"]

# Two-sided standard-normal quantiles of the central intervals reported.
INTERVALS = {"50": 0.6744897501960817, "90": 1.6448536269514722, "95": 1.959963984540054}


def member_gaussians(model_or_models, x, batch_size: int = 128, verbose="auto"):
    """Members' means and standard deviations, each `(N, M, units)` float64.

    A MIMOModel with a `"gaussian"` head gives its members (one forward
    pass); a list of models (a deep ensemble) one member each; a single model
    is a one-member ensemble. Every model outputs `(N, 2 * units)`, with
    positive standard deviations.
    """
    ensemble = EnsembleReader(model_or_models, argument="model_or_models")
    ensemble.require_gaussian("keras_mimo.evaluation.member_probabilities")
    batch_size = check_positive_int(batch_size, "batch_size")
    check_inputs(x, "x")
    return ensemble.member_gaussians(x, batch_size, verbose)


def evaluate_regression(model, x, y, y_scale=1.0, batch_size: int = 128, verbose="auto") -> dict:
    """Accuracy, likelihood and calibration of a Gaussian regression ensemble.

    Args:
        model: a `MIMOModel` with a `"gaussian"` head, a list of models (a
            deep ensemble) or one model, each predicting `(N, 2 * units)`.
        x: inputs as `predict` accepts them.
        y: targets `(N, units)` in the units the model predicts (e.g.
            standardized); no NaN.
        y_scale: float or `(units,)`: the target's standard deviation when
            `y` is standardized, so that every figure is in the original
            units (`original = y * y_scale + offset`).
        batch_size, verbose: as in `predict`.

    Returns:
        A JSON-serialisable dict, in the original units: `rmse` (of the mean
        prediction), `nll` (of the members' equal-weight mixture,
        `-log mean_m N(y; mu_m, sigma_m)`, per example summed over units),
        `nll_gaussian` (of the moment-matched Gaussian), `crps` (of the
        moment-matched Gaussian), `coverage` and `interval_width` of its
        central 50/90/95 % intervals, `member_rmse`, `epistemic_variance`
        (variance of the member means) and `aleatoric_variance` (mean member
        variance), both averaged over examples and units, and `ensemble_size`.
    """
    ensemble = EnsembleReader(model, argument="model")
    batch_size = check_positive_int(batch_size, "batch_size")
    check_inputs(x, "x")
    mu, sigma = ensemble.require_gaussian("keras_mimo.evaluate_ensemble").member_gaussians(x, batch_size, verbose)
    units = mu.shape[-1]
    y = check_targets(y, units, len(mu))
    scale = check_y_scale(y_scale, units)
    mean, aleatoric, epistemic = to_numpy(gaussian_moments(mu, sigma))
    std = np.sqrt(aleatoric + epistemic)
    z = (y - mean) / std
    # members' mixture: log mean_m prod_u N(y_u; mu_mu, sigma_mu), original units
    log_density = -0.5 * np.log(2 * math.pi) - np.log(sigma * scale) - 0.5 * np.square((y[:, None] - mu) / sigma)
    log_mixture = to_numpy(log_mean_exp(log_density.sum(-1)))

    def per_example(fn):
        """Mean per-row score of the moment-matched Gaussian, in original units.

        Both scores are shift-invariant: the residual goes in centred, so
        float32 keeps its precision for targets far from zero.
        """
        residual = ((y - mean) * scale).astype("float32")
        gaussian = np.concatenate([np.zeros_like(mean), std * scale], -1).astype("float32")
        return float(np.mean(keras.ops.convert_to_numpy(fn(residual, gaussian))))

    return {
        "num_examples": int(len(y)),
        "ensemble_size": int(mu.shape[1]),
        "rmse": float(np.sqrt(np.mean(np.square((y - mean) * scale)))),
        "nll": float(-log_mixture.mean()),
        "nll_gaussian": per_example(gaussian_nll),
        "crps": per_example(gaussian_crps),
        "coverage": {k: float(np.mean(np.abs(z) <= q)) for k, q in INTERVALS.items()},
        "interval_width": {k: float(np.mean(2 * q * std * scale)) for k, q in INTERVALS.items()},
        "member_rmse": [float(np.sqrt(np.mean(np.square((y - mu[:, m]) * scale)))) for m in range(mu.shape[1])],
        "epistemic_variance": float(np.mean(epistemic * np.square(scale))),
        "aleatoric_variance": float(np.mean(aleatoric * np.square(scale))),
    }
