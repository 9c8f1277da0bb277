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
import numbers
import warnings

import keras
import numpy as np
from keras import ops

from keras_mimo._serialization import register
from keras_mimo._validation import check_bounds
from keras_mimo._validation import check_finite
from keras_mimo._validation import check_labels
from keras_mimo._validation import check_positive_finite
from keras_mimo._validation import check_targets
from keras_mimo.ensembles.layer_bases import OutputFormLayer
from keras_mimo.ensembles import log_probabilities
from keras_mimo.ensembles import moment_matched
from keras_mimo.ensembles import split_gaussian
from keras_mimo.ensembles import to_numpy
from keras_mimo.ensembles import to_probabilities
from keras_mimo.ensembles.reading import EnsembleReader
from keras_mimo.ensembles.reading import new_inputs

__all__ = [
    "StdScaling",
    "TemperatureScaling",
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


def _classifier(model, from_logits, step: str) -> EnsembleReader:
    """The model check of `fit_temperature` / `with_temperature` (one for the pair; `step`: "fit" or "with")."""
    return EnsembleReader(model, from_logits, argument="model").require_classifier(
        f"keras_mimo.calibration.{step}_std_scale"
    )


def _gaussian(model, step: str) -> EnsembleReader:
    """The model check of `fit_std_scale` / `with_std_scale` (one for the pair)."""
    return EnsembleReader(model, argument="model").require_gaussian(f"keras_mimo.calibration.{step}_temperature")


def _scaled(log_probs, temperature: float):
    """`log softmax(log_probs / temperature)` over the last axis, float32 (`keras.ops`; `temperature` checked)."""
    return ops.log_softmax(ops.cast(log_probs, "float32") / temperature, axis=-1)


def ensemble_log_probabilities(model, x, batch_size: int = 128, from_logits: bool | None = None) -> np.ndarray:
    """Log of the ensemble's mean probability, `(N, K)` float64 (numpy).

    `model`: a classifier MIMOModel, a list of models (a deep ensemble) or one
    model, read as in `keras_mimo.evaluate_ensemble`. Logits models are
    averaged in log space (log-mean-exp of the members' log-softmax).
    `temperature_nll(ensemble_log_probabilities(...), labels, T)` is the NLL
    that `fit_temperature` minimizes.
    """
    return EnsembleReader(model, from_logits, argument="model").predictive_log_probabilities(x, batch_size)


def scaled_log_probabilities(log_probs, temperature: float) -> np.ndarray:
    """`log softmax(log_probs / temperature)`, `(N, K)` float64 (numpy).

    Computed in float32, as `TemperatureScaling` computes it.
    """
    temperature = check_positive_finite(temperature, "temperature")
    log_probs = _check_log_probabilities(log_probs)
    return to_numpy(_scaled(log_probs, temperature))


def temperature_nll(log_probs, labels, temperature: float) -> float:
    """Mean NLL of `softmax(log_probs / temperature)` for integer `labels`."""
    temperature = check_positive_finite(temperature, "temperature")
    log_probs = _check_log_probabilities(log_probs)
    labels = check_labels(labels, len(log_probs), log_probs.shape[-1], "labels")
    log_softmax = to_numpy(_scaled(log_probs, temperature))
    return float(-np.mean(log_softmax[np.arange(len(labels)), labels]))


def _check_log_probabilities(log_probs) -> np.ndarray:
    """`log_probs` `(N, K)` float64, finite, else raises naming the argument."""
    log_probs = check_finite(
        log_probs, "log_probs", ": floor probabilities before their log, e.g. np.log(np.maximum(p, 1e-30))"
    )
    if log_probs.ndim != 2:
        raise ValueError(f"`log_probs` must be (N, K). Received: shape {log_probs.shape}")
    return log_probs


def fit_temperature(model, x, y, batch_size: int = 128, from_logits: bool | None = None, bounds=(0.05, 20.0)) -> float:
    """The temperature minimizing the ensemble's NLL on held-out `(x, y)`.

    A golden-section search over `log T` in `bounds` (the NLL of a
    temperature-scaled softmax is unimodal in `T` in practice).

    Args:
        model: a single-output classifier: a `MIMOModel`, one model, or a
            list of models (a deep ensemble). `with_temperature` accepts and
            refuses the same models.
        x, y: held-out inputs and integer (or one-hot) labels, not the test set.
        batch_size, from_logits: as in `keras_mimo.evaluate_ensemble`.
        bounds: the search interval of `T`.

    Returns:
        `T` (float): > 1 softens an over-confident ensemble, < 1 sharpens it.

    Raises:
        ValueError: naming the argument, for a model's outputs on `x` that
            hold NaN or inf, labels `y` that are NaN, inf, fractional or
            outside the classes, or a model that is not a single-output
            classifier (a Gaussian head points to `fit_std_scale`).
    """
    ensemble = _classifier(model, from_logits, "fit")
    log_bounds = check_bounds(bounds)
    log_probs = ensemble.predictive_log_probabilities(x, batch_size)
    labels = check_labels(y, len(log_probs), log_probs.shape[-1])
    return _golden_section_temperature(log_probs, labels, log_bounds, bounds)


def temperature_from_log_probabilities(log_probs, labels, bounds=(0.05, 20.0)) -> float:
    """The temperature minimizing `temperature_nll(log_probs, labels, T)` (numpy).

    `fit_temperature` on predictions you already have: `log_probs` `(N, K)`
    (e.g. from `ensemble_log_probabilities`), integer `labels` `(N,)`.
    """
    log_bounds = check_bounds(bounds)
    log_probs = _check_log_probabilities(log_probs)
    if not len(log_probs):
        raise ValueError("`log_probs` has no rows: fitting a temperature needs at least one. Received: shape (0, K)")
    labels = check_labels(labels, len(log_probs), log_probs.shape[-1], "labels")
    return _golden_section_temperature(log_probs, labels, log_bounds, bounds)


def _golden_section_temperature(log_probs, labels, log_bounds, bounds) -> float:
    """The search itself, on bounds the caller checked: `log_bounds` = (log low, log high)."""
    low, high = log_bounds

    rows = np.arange(len(labels))

    def loss(log_t):
        log_softmax = to_numpy(_scaled(log_probs, math.exp(log_t)))
        return float(-np.mean(log_softmax[rows, labels]))

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
            stacklevel=3,
        )
    return float(temperature)


def fit_std_scale(model, x, y, batch_size: int = 128, **deprecated) -> float:
    """The factor `s` on the predicted std minimizing the held-out Gaussian NLL.

    For the moment-matched Gaussian `(mu, sigma)` of a Gaussian ensemble, the
    NLL of `(mu, s * sigma)` is minimal at `s^2 = mean((y - mu)^2 / sigma^2)`
    (closed form).

    Args:
        model: a single-output Gaussian regressor: a `MIMOModel` with a
            `"gaussian"` head, one model predicting `(N, 2 * units)`
            (`[means, stds]`), or a list of such models (a deep ensemble).
            `with_std_scale` accepts and refuses the same models.
        x, y: held-out inputs and targets `(N, units)`, one row per input.
        batch_size: prediction batch size.

    `y_scale` (ignored: the factor does not depend on it) is deprecated.
    One factor for every unit.
    """
    batch_size = _deprecated_y_scale(batch_size, deprecated)
    mu, sigma = _gaussian(model, "fit").member_gaussians(x, batch_size)
    y = check_targets(y, mu.shape[-1], len(mu))
    mean, std = to_numpy(moment_matched(mu, sigma))
    return float(np.sqrt(np.mean(np.square((y - mean) / std))))


def _deprecated_y_scale(batch_size, deprecated: dict):
    """`fit_std_scale(model, x, y, y_scale, batch_size)` of the previous release: warn, ignore y_scale."""
    unknown = set(deprecated) - {"y_scale"}
    if unknown:
        raise TypeError(f"fit_std_scale got unexpected keyword arguments {sorted(unknown)}.")
    if (
        "y_scale" in deprecated
        or not isinstance(batch_size, (numbers.Integral, type(None)))
        or isinstance(batch_size, bool)
    ):
        if "y_scale" not in deprecated:  # positional y_scale in the batch_size slot
            deprecated = {"y_scale": batch_size}
            batch_size = 128
        warnings.warn(
            "fit_std_scale's `y_scale` argument is deprecated and ignored (the factor does not depend on "
            "it); it will be removed in 0.3.0.",
            DeprecationWarning,
            stacklevel=3,
        )
    return batch_size


@register
class TemperatureScaling(OutputFormLayer):
    """Divides an ensemble's log-probabilities by `temperature`, in the head's output form.

    Args:
        temperature: positive finite float `T`.
        ensemble_method: how the wrapped model's output reads: `"mean"`
            (probabilities: softmax, or sigmoid for one unit),
            `"softmax_logits"` or `"sigmoid_logits"` (logits, divided by `T`).

    Input and output shape: `(N, K)`, the same form as the input. Computes
    in float32 under any dtype policy (`keras_mimo.ensembles.Float32Layer`);
    a model ending in it reads in its `ensemble_method` (`OutputFormLayer`).
    """

    def __init__(self, temperature: float, ensemble_method: str = "mean", **kwargs):
        super().__init__(**kwargs)
        self.temperature = check_positive_finite(temperature, "temperature")
        if ensemble_method not in ("mean", "softmax_logits", "sigmoid_logits"):
            raise ValueError(
                "TemperatureScaling scales classifier outputs: `ensemble_method` must be "
                f"'mean', 'softmax_logits' or 'sigmoid_logits'. Received: ensemble_method={ensemble_method!r}"
            )
        self.ensemble_method = ensemble_method

    def call(self, inputs):
        outputs = ops.cast(inputs, "float32")
        if self.ensemble_method != "mean":
            return outputs / self.temperature  # the logits of softmax(log p / T)
        scaled = ops.exp(_scaled(log_probabilities(to_probabilities(outputs, "mean")), self.temperature))
        return scaled[..., 1:] if outputs.shape[-1] == 1 else scaled  # one unit: p of class 1

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature, "ensemble_method": self.ensemble_method}


@register
class StdScaling(OutputFormLayer):
    """Multiplies the standard deviations of a Gaussian output `[means, stds]` `(N, 2 * units)` by `scale`.

    Computes in float32 under any dtype policy (`keras_mimo.ensembles.Float32Layer`); a model ending in
    it reads as Gaussian (`OutputFormLayer`).
    """

    ensemble_method = "gaussian"

    def __init__(self, scale: float, **kwargs):
        super().__init__(**kwargs)
        self.scale = check_positive_finite(scale, "scale")

    def build(self, input_shape):
        if input_shape[-1] is not None and input_shape[-1] % 2:
            raise ValueError(
                "`inputs` of StdScaling must be a Gaussian output [means, stds] with 2 * units columns. "
                f"Received: inputs of shape {tuple(input_shape)}"
            )

    def call(self, inputs):
        mean, std = split_gaussian(ops.cast(inputs, "float32"), "inputs")
        return ops.concatenate([mean, std * self.scale], axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def _wrap(model, layer, suffix):
    inputs = new_inputs(model)
    return keras.Model(inputs, layer(model(inputs)), name=f"{model.name}_{suffix}")


def with_temperature(model, temperature: float, from_logits: bool | None = None) -> keras.Model:
    """`model` followed by temperature scaling of its ensemble output.

    Args:
        model: what `fit_temperature` takes (it accepts and refuses the same
            models, with the same message): a single-output classifier
            `MIMOModel` (its head's `ensemble_method` says whether it
            outputs probabilities or logits), a plain classifier
            (probabilities unless `from_logits=True`) or a list of models (a
            deep ensemble: their mean probability is scaled).
        temperature: positive finite float (or 0-d array), e.g. from
            `fit_temperature`.
        from_logits: for plain models, as in `fit_temperature`, and it must
            agree with the value given there: the temperature was fitted for
            that reading of the outputs. A model from `with_temperature`
            keeps the form of the model it wraps.

    Returns:
        A functional `keras.Model` with `model`'s inputs, predicting
        `softmax(log p / T)` as probabilities for probability heads and deep
        ensembles, or the logits divided by `T` for logits heads. Saves and
        loads as `.keras`; computes in float32 under a mixed policy.
    """
    temperature = check_positive_finite(temperature, "temperature")
    ensemble = _classifier(model, from_logits, "with")
    if not isinstance(model, keras.Model):  # a deep ensemble: its mean probability
        inputs, probs = ensemble.symbolic_probabilities()
        outputs = TemperatureScaling(temperature, "mean", name="temperature_scaling")(probs)
        return keras.Model(inputs, outputs, name=f"{ensemble.name}_temperature")
    method = ensemble.wrapped_output_form()  # as fit_temperature reads it: a with_temperature model keeps its form
    return _wrap(model, TemperatureScaling(temperature, method, name="temperature_scaling"), "temperature")


def with_std_scale(model, scale: float) -> keras.Model:
    """`model` (Gaussian outputs `[means, stds]`) with its stds multiplied by `scale`.

    Args:
        model: what `fit_std_scale` takes (it accepts and refuses the same
            models, with the same message): a Gaussian `MIMOModel`, one
            model predicting `(N, 2 * units)`, or a list of them (a deep
            ensemble: its moment-matched Gaussian is scaled).
        scale: positive finite float, e.g. from `fit_std_scale`.

    Returns:
        A functional `keras.Model` with `model`'s inputs predicting
        `[means, scale * stds]`; saves and loads as `.keras`.
    """
    scale = check_positive_finite(scale, "scale")
    ensemble = _gaussian(model, "with")
    if not isinstance(model, keras.Model):  # a deep ensemble: its moment-matched Gaussian
        inputs, gaussian = ensemble.symbolic_gaussian()
        outputs = StdScaling(scale, name="std_scaling")(gaussian)
        return keras.Model(inputs, outputs, name=f"{ensemble.name}_std_scaled")
    return _wrap(model, StdScaling(scale, name="std_scaling"), "std_scaled")
