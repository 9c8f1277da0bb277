"""`evaluate_regression`: accuracy and uncertainty of Gaussian regression ensembles."""

import math

import keras
import numpy as np

from keras_mimo.evaluation.predictions import log_mean_exp
from keras_mimo.evaluation.predictions import member_outputs
from keras_mimo.losses import gaussian_nll
from keras_mimo.metrics.regression import gaussian_crps
from keras_mimo.model import MIMOModel

__all__ = ["check_y_scale", "evaluate_regression", "member_gaussians", "moment_matched"]

# Two-sided standard-normal quantiles of the central intervals reported.
INTERVALS = {"50": 0.6744897501960817, "90": 1.6448536269514722, "95": 1.959963984540054}


def _check_targets(y, units: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    y = y.reshape(len(y), -1)
    if y.shape[-1] != units:
        raise ValueError(
            f"`y` must have one value per unit of the Gaussian head: shape (N, {units}). "
            f"Received: shape {y.shape}"
        )
    if not np.all(np.isfinite(y)):
        raise ValueError(
            f"`y` holds {int((~np.isfinite(y)).sum())} NaN or infinite targets: drop "
            "those rows before evaluating."
        )
    return y


def check_y_scale(y_scale, units: int) -> np.ndarray:
    """`y_scale` as `(units,)` float64: a positive finite float, or one such value per unit."""
    expected = f"a positive finite float, or an array of {units} positive finite floats (one per output unit)"
    if isinstance(y_scale, (str, bytes, bool)) or y_scale is None:
        raise ValueError(f"`y_scale` must be {expected}. Received: y_scale={y_scale!r}")
    try:
        scale = np.asarray(y_scale, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"`y_scale` must be {expected}. Received: y_scale={y_scale!r}") from None
    if scale.dtype.kind not in "fiu" or np.asarray(y_scale).dtype.kind not in "fiu":
        raise ValueError(f"`y_scale` must be {expected}. Received: y_scale={y_scale!r}")
    if scale.ndim > 1 or (scale.ndim == 1 and len(scale) != units):
        raise ValueError(f"`y_scale` must be {expected}. Received an array of shape {scale.shape}.")
    if not (np.isfinite(scale).all() and (scale > 0).all()):
        raise ValueError(f"`y_scale` must be {expected}. Received: y_scale={y_scale!r}")
    return np.broadcast_to(scale, (units,))


def moment_matched(mu, sigma):
    """`(mean, std)` `(N, units)` of the members' mixture from `mu`, `sigma` `(N, M, units)` (numpy)."""
    return mu.mean(1), np.sqrt(np.square(sigma).mean(1) + mu.var(1))


def member_gaussians(model_or_models, x, batch_size: int = 128, verbose="auto"):
    """Members' means and standard deviations, each `(N, M, units)` float64.

    A MIMOModel with a `"gaussian"` head gives its members (one forward
    pass); a list of models (a deep ensemble) one member each; a single model
    is a one-member ensemble. Every model outputs `(N, 2 * units)`.
    """
    outputs = []
    for model, out in member_outputs(model_or_models, x, batch_size, verbose, what="regression"):
        if isinstance(model, MIMOModel) and model.ensemble_method != "gaussian":
            raise ValueError(
                f"evaluate_regression needs a MIMOHead with ensemble_method='gaussian'; "
                f"model {model.name!r} has ensemble_method={model.ensemble_method!r}."
            )
        if out.shape[-1] % 2:
            raise ValueError(
                f"Model {model.name!r} outputs {out.shape[-1]} columns; a Gaussian "
                "output has 2 * units (means, then standard deviations)."
            )
        outputs.append(np.asarray(out, dtype=np.float64))
    members = np.concatenate(outputs, axis=1)
    units = members.shape[-1] // 2
    return members[..., :units], members[..., units:]


def evaluate_regression(
    model, x, y, y_scale=1.0, batch_size: int = 128, verbose="auto"
) -> dict:
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
    mu, sigma = member_gaussians(model, x, batch_size, verbose)
    units = mu.shape[-1]
    y = _check_targets(y, units)
    if len(y) != len(mu):
        raise ValueError(f"Got {len(mu)} predictions but {len(y)} targets: one target row per example.")
    scale = check_y_scale(y_scale, units)
    mean = mu.mean(1)
    aleatoric = np.square(sigma).mean(1)
    epistemic = mu.var(1)
    std = np.sqrt(aleatoric + epistemic)
    z = (y - mean) / std
    # members' mixture: log mean_m prod_u N(y_u; mu_mu, sigma_mu), original units
    log_density = -0.5 * np.log(2 * math.pi) - np.log(sigma * scale) - 0.5 * np.square((y[:, None] - mu) / sigma)
    log_mixture = log_mean_exp(log_density.sum(-1), axis=1)

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
