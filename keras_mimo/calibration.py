"""Post-hoc calibration: temperature scaling of ensembles, std scaling of regressors.

`fit_temperature` finds the temperature `T` minimizing the held-out NLL of
`softmax(log p / T)`, `p` the ensemble's predictive distribution (the mean
member probability); `with_temperature` wraps a model so that it predicts
that scaled ensemble, in the head's own output form, and saves as `.keras`.
For Gaussian regression heads, `fit_std_scale` / `with_std_scale` do the
same with a factor on the predicted standard deviation.

References:
    Guo et al., "On calibration of modern neural networks", ICML 2017.
"""

import math
import warnings

import keras
import numpy as np
from keras import ops

from keras_mimo import _ensemble_graph
from keras_mimo._serialization import register
from keras_mimo.ensembling import split_gaussian
from keras_mimo.evaluation.evaluate import _checked_labels
from keras_mimo.evaluation.predictions import log_mean_exp
from keras_mimo.evaluation.predictions import member_predictions
from keras_mimo.evaluation.regression import _check_targets
from keras_mimo.evaluation.regression import check_y_scale
from keras_mimo.evaluation.regression import member_gaussians
from keras_mimo.evaluation.regression import moment_matched
from keras_mimo.model import MIMOModel

__all__ = [
    "TemperatureScaling",
    "StdScaling",
    "ensemble_log_probabilities",
    "fit_std_scale",
    "fit_temperature",
    "scaled_log_probabilities",
    "temperature_from_log_probabilities",
    "temperature_nll",
    "with_std_scale",
    "with_temperature",
]

_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def _check_positive_finite(value, name: str) -> float:
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()  # a 0-d array, e.g. np.array(1.5)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"`{name}` must be a positive finite float. Received: {name}={value!r}")
    if not math.isfinite(float(value)) or float(value) <= 0.0:
        raise ValueError(f"`{name}` must be a positive finite float. Received: {name}={value!r}")
    return float(value)


def ensemble_log_probabilities(model, x, batch_size: int = 128, from_logits: bool | None = None) -> np.ndarray:
    """Log of the ensemble's mean probability, `(N, K)` float64 (numpy).

    `model`: a classifier MIMOModel, a list of models (a deep ensemble) or one
    model, read as in `keras_mimo.evaluate_ensemble`. Logits models are
    averaged in log space (log-mean-exp of the members' log-softmax).
    `temperature_nll(ensemble_log_probabilities(...), labels, T)` is the NLL
    that `fit_temperature` minimizes.
    """
    probs, log_probs = member_predictions(model, x, batch_size, from_logits, verbose=0)
    if log_probs is None:
        return np.log(np.clip(probs.mean(1), 1e-300, 1.0))
    return log_mean_exp(log_probs, axis=1)


def scaled_log_probabilities(log_probs, temperature: float) -> np.ndarray:
    """`log softmax(log_probs / temperature)`, `(N, K)` float64 (numpy)."""
    scaled = np.asarray(log_probs, np.float64) / _check_positive_finite(temperature, "temperature")
    scaled = scaled - scaled.max(-1, keepdims=True)
    return scaled - np.log(np.exp(scaled).sum(-1, keepdims=True))


def temperature_nll(log_probs, labels, temperature: float) -> float:
    """Mean NLL of `softmax(log_probs / temperature)` for integer `labels`."""
    log_softmax = scaled_log_probabilities(log_probs, temperature)
    return float(-np.mean(log_softmax[np.arange(len(labels)), labels]))


def fit_temperature(
    model, x, y, batch_size: int = 128, from_logits: bool | None = None, bounds=(0.05, 20.0)
) -> float:
    """The temperature minimizing the ensemble's NLL on held-out `(x, y)`.

    A golden-section search over `log T` in `bounds` (the NLL of a
    temperature-scaled softmax is unimodal in `T` in practice).

    Args:
        model: a classifier `MIMOModel`, a list of models (a deep ensemble)
            or one model.
        x, y: held-out inputs and integer (or one-hot) labels, not the test set.
        batch_size, from_logits: as in `keras_mimo.evaluate_ensemble`.
        bounds: the search interval of `T`.

    Returns:
        `T` (float): > 1 softens an over-confident ensemble, < 1 sharpens it.
    """
    _ensemble_graph.check_classifier(model, "fit_temperature", "keras_mimo.calibration.fit_std_scale")
    log_probs = ensemble_log_probabilities(model, x, batch_size, from_logits)
    labels = _checked_labels(y, len(log_probs), log_probs.shape[-1])
    return temperature_from_log_probabilities(log_probs, labels, bounds)


def temperature_from_log_probabilities(log_probs, labels, bounds=(0.05, 20.0)) -> float:
    """The temperature minimizing `temperature_nll(log_probs, labels, T)` (numpy).

    `fit_temperature` on predictions you already have: `log_probs` `(N, K)`
    (e.g. from `ensemble_log_probabilities`), integer `labels` `(N,)`.
    """
    low, high = _checked_bounds(bounds)
    log_probs = np.asarray(log_probs, np.float64)
    labels = _checked_labels(labels, len(log_probs), log_probs.shape[-1])

    def loss(log_t):
        return temperature_nll(log_probs, labels, math.exp(log_t))

    a, b = low, high
    c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    fc, fd = loss(c), loss(d)
    for _ in range(80):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - _GOLDEN * (b - a)
            fc = loss(c)
        else:
            a, c, fc = c, d, fd
            d = a + _GOLDEN * (b - a)
            fd = loss(d)
    temperature = math.exp((a + b) / 2)
    if min(abs(math.log(temperature) - low), abs(math.log(temperature) - high)) < 1e-3:
        warnings.warn(
            f"The fitted temperature {temperature:.4g} lies at a bound of bounds={tuple(bounds)}: the "
            "held-out NLL may keep falling beyond it. Widen `bounds` (or check the labels and "
            "the model's output form).",
            stacklevel=2,
        )
    return float(temperature)


def _checked_bounds(bounds) -> tuple:
    """`(log low, log high)` of a `(low, high)` pair of positive floats with low < high."""
    try:
        low, high = bounds
    except (TypeError, ValueError):
        raise ValueError(f"`bounds` must be a pair (low, high) of positive floats. Received: bounds={bounds!r}") from None
    low, high = _check_positive_finite(low, "bounds"), _check_positive_finite(high, "bounds")
    if not low < high:
        raise ValueError(f"`bounds` must be (low, high) with low < high. Received: bounds={bounds!r}")
    return math.log(low), math.log(high)


def fit_std_scale(model, x, y, y_scale=1.0, batch_size: int = 128) -> float:
    """The factor `s` on the predicted std minimizing the held-out Gaussian NLL.

    For the moment-matched Gaussian `(mu, sigma)` of a Gaussian ensemble, the
    NLL of `(mu, s * sigma)` is minimal at `s^2 = mean((y - mu)^2 / sigma^2)`
    (closed form). `y_scale` is accepted (and checked) for symmetry with
    `evaluate_regression`; the factor does not depend on it.
    """
    mu, sigma = member_gaussians(model, x, batch_size, verbose=0)
    check_y_scale(y_scale, mu.shape[-1])
    y = _check_targets(y, mu.shape[-1])
    mean, std = moment_matched(mu, sigma)
    return float(np.sqrt(np.mean(np.square((y - mean) / std))))


@register
class TemperatureScaling(keras.layers.Layer):
    """Divides an ensemble's log-probabilities by `temperature`, in the head's output form.

    Args:
        temperature: positive finite float `T`.
        ensemble_method: how the wrapped model's output reads: `"mean"`
            (probabilities: softmax, or sigmoid for one unit),
            `"softmax_logits"` or `"sigmoid_logits"` (logits, divided by `T`).

    Input and output shape: `(N, K)`, the same form as the input.
    """

    def __init__(self, temperature: float, ensemble_method: str = "mean", **kwargs):
        super().__init__(**kwargs)
        self.temperature = _check_positive_finite(temperature, "temperature")
        if ensemble_method not in ("mean", "softmax_logits", "sigmoid_logits"):
            raise ValueError(
                "TemperatureScaling scales classifier outputs: ensemble_method must be "
                f"'mean', 'softmax_logits' or 'sigmoid_logits'. Received: {ensemble_method!r}"
            )
        self.ensemble_method = ensemble_method

    def call(self, inputs):
        outputs = ops.cast(inputs, "float32")
        if self.ensemble_method != "mean":
            return outputs / self.temperature
        eps = keras.config.epsilon()
        if outputs.shape[-1] == 1:
            p = ops.clip(outputs, eps, 1.0 - eps)
            return ops.sigmoid((ops.log(p) - ops.log(1.0 - p)) / self.temperature)
        return ops.softmax(ops.log(ops.clip(outputs, 1e-30, 1.0)) / self.temperature, axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature,
                "ensemble_method": self.ensemble_method}


@register
class StdScaling(keras.layers.Layer):
    """Multiplies the standard deviations of a Gaussian output `[means, stds]` by `scale`."""

    def __init__(self, scale: float, **kwargs):
        super().__init__(**kwargs)
        self.scale = _check_positive_finite(scale, "scale")

    def call(self, inputs):
        mean, std = split_gaussian(ops.cast(inputs, "float32"))
        return ops.concatenate([mean, std * self.scale], axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def _wrap(model, layer, suffix):
    inputs = _ensemble_graph.new_inputs(model)
    return keras.Model(inputs, layer(model(inputs)), name=f"{model.name}_{suffix}")


def with_temperature(model, temperature: float, from_logits: bool | None = None) -> keras.Model:
    """`model` followed by temperature scaling of its ensemble output.

    Args:
        model: a classifier `MIMOModel` (its head's `ensemble_method` says
            whether it outputs probabilities or logits), a plain classifier
            (probabilities unless `from_logits=True`) or a list of models (a
            deep ensemble: their mean probability is scaled).
        temperature: positive finite float (or 0-d array), e.g. from
            `fit_temperature`.
        from_logits: for plain models, whether they output logits. It must
            agree with the `from_logits` given to `fit_temperature`: the
            temperature was fitted for that reading of the outputs.

    Returns:
        A functional `keras.Model` with `model`'s inputs, predicting
        `softmax(log p / T)` as probabilities for probability heads and deep
        ensembles, or the logits divided by `T` for logits heads. Saves and
        loads as `.keras`.
    """
    temperature = _check_positive_finite(temperature, "temperature")
    if isinstance(model, (list, tuple)):
        inputs, probs = _ensemble_graph.ensemble_probabilities(model, from_logits)
        outputs = TemperatureScaling(temperature, "mean", name="temperature_scaling")(probs)
        return keras.Model(inputs, outputs, name=f"{_ensemble_graph.name(model)}_temperature")
    if not isinstance(model, keras.Model):
        raise TypeError(
            "`model` must be a keras.Model (a MIMOModel or a single model) or a list of them "
            f"(a deep ensemble). Received: {model!r}"
        )
    if isinstance(model, MIMOModel):
        if model.ensemble_method == "gaussian":
            raise ValueError("with_temperature needs a classifier; use with_std_scale for a Gaussian head.")
        method = model.ensemble_method
    else:
        method = ("sigmoid_logits" if model.output.shape[-1] == 1 else "softmax_logits") if from_logits else "mean"
    return _wrap(model, TemperatureScaling(temperature, method, name="temperature_scaling"), "temperature")


def with_std_scale(model, scale: float) -> keras.Model:
    """`model` (Gaussian outputs `[means, stds]`) with its stds multiplied by `scale`."""
    return _wrap(model, StdScaling(_check_positive_finite(scale, "scale"), name="std_scaling"), "std_scaled")
