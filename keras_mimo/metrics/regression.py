"""Streaming metrics of Gaussian predictions: negative log-likelihood and CRPS."""

import math

import keras
from keras import ops

from keras_mimo._serialization import register
from keras_mimo.losses import gaussian_nll
from keras_mimo.losses import gaussian_residuals


def gaussian_crps(y_true, y_pred):
    """Per-row continuous ranked probability score of Gaussians, summed over units: `(N,)`.

    Closed form: `sigma * (z * (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi))`
    with `z = (y - mu) / sigma` (Gneiting & Raftery, 2007).

    Args:
        y_true: `(N, units)`.
        y_pred: `(N, 2 * units)`: means then standard deviations.
    """
    z, std = gaussian_residuals(y_true, y_pred)
    cdf = 0.5 * (1.0 + ops.erf(z / math.sqrt(2.0)))
    pdf = ops.exp(-0.5 * ops.square(z)) / math.sqrt(2 * math.pi)
    per_unit = std * (z * (2.0 * cdf - 1.0) + 2.0 * pdf - 1.0 / math.sqrt(math.pi))
    return ops.sum(per_unit, axis=-1)


@register(name="GaussianNLLMetric")
class GaussianNLL(keras.metrics.MeanMetricWrapper):
    """Mean Gaussian negative log-likelihood (summed over units), streaming.

    The same quantity as `keras_mimo.losses.GaussianNLL`, for `compile(metrics=...)`.

    Inputs:
        `y_true`: `(N, units)`.
        `y_pred`: `(N, 2 * units)`: means then standard deviations.
    """

    def __init__(self, name="gaussian_nll", dtype=None):
        super().__init__(gaussian_nll, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@register
class CRPS(keras.metrics.MeanMetricWrapper):
    """Mean continuous ranked probability score of Gaussian predictions (lower is better).

    In the target's units; the closed form for a Gaussian, summed over units.

    Inputs:
        `y_true`: `(N, units)`.
        `y_pred`: `(N, 2 * units)`: means then standard deviations.

    References:
        Gneiting & Raftery, "Strictly proper scoring rules, prediction, and
        estimation", JASA 2007.
    """

    def __init__(self, name="crps", dtype=None):
        super().__init__(gaussian_crps, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}
