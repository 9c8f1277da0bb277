"""Losses for probabilistic heads."""

import math

import keras
import numpy as np
from keras import ops

from keras_mimo._serialization import register
from keras_mimo.ensembles.quantities import split_gaussian

__all__ = ["GaussianNLL", "gaussian_nll"]


def _check_gaussian_target(y_true, y_pred, name: str = "y_true"):
    """Raises unless `y_pred` is `(..., 2 * units)` and `y_true` holds one value per unit of each of its rows.

    Static shapes, so also in a traced step.
    """
    columns = y_pred.shape[-1]
    if columns is not None and columns % 2:
        raise ValueError(
            "`y_pred` must be Gaussian outputs (..., 2 * units): means, then standard deviations. "
            f"Received: y_pred of shape {tuple(y_pred.shape)}, an odd number of columns."
        )
    units = columns // 2 if columns is not None else None
    last = y_true.shape[-1] if len(y_true.shape) > 1 else 1
    if units is not None and last is not None and last != units:
        raise ValueError(
            f"`{name}` must have one value per unit of the Gaussian head: last "
            f"dimension {units} (the prediction has {2 * units} = 2 x {units} "
            f"columns, means then standard deviations). Received: {name} shape "
            f"{tuple(y_true.shape)}"
        )
    sizes = tuple(y_true.shape) + tuple(y_pred.shape)
    if units and None not in sizes and math.prod(y_true.shape) != math.prod(y_pred.shape[:-1]) * units:
        raise ValueError(
            f"`{name}` must have one row per prediction: {tuple(y_pred.shape[:-1])} rows of {units} values. "
            f"Received: {name} shape {tuple(y_true.shape)} for y_pred shape {tuple(y_pred.shape)}."
        )


def gaussian_residuals(y_true, y_pred):
    """`(z, std)`, each `(N, units)` float32: `z = (y - mu) / sigma`, after the target check.

    Eager inputs (numpy, eager tensors) are value-checked: NaN or inf
    in either, or a standard deviation <= 0, raise a `ValueError` naming the
    argument (see `keras_mimo.metrics._inputs`).
    """
    # imported here: keras_mimo.metrics imports this module
    from keras_mimo.metrics._inputs import check_finite_values
    from keras_mimo.metrics._inputs import value_checked

    check_finite_values(y_pred, "y_pred")
    check_finite_values(y_true, "y_true")
    checked = value_checked(y_pred)
    y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
    y_true = ops.cast(ops.convert_to_tensor(y_true), "float32")
    _check_gaussian_target(y_true, y_pred)
    mean, std = split_gaussian(y_pred)
    if checked:
        stds = np.asarray(ops.convert_to_numpy(std))
        if (stds <= 0).any():
            raise ValueError(
                "`y_pred` must hold positive standard deviations in its last `units` columns (means, then "
                f"standard deviations). Received {int((stds <= 0).sum())} values <= 0, e.g. {stds[stds <= 0][:3].tolist()}."
            )
    return (ops.reshape(y_true, ops.shape(mean)) - mean) / std, std


def gaussian_nll(y_true, y_pred):
    """Per-row Gaussian negative log-likelihood, summed over units: `(N,)`.

    Args:
        y_true: targets `(N, units)` (or `(N,)` for one unit).
        y_pred: `(N, 2 * units)`, means then standard deviations.

    Returns:
        `sum_u 0.5 * log(2 pi sigma^2) + (y - mu)^2 / (2 sigma^2)` per row.
    """
    z, std = gaussian_residuals(y_true, y_pred)
    per_unit = 0.5 * math.log(2 * math.pi) + ops.log(std) + 0.5 * ops.square(z)
    return ops.sum(per_unit, axis=-1)


@register
class GaussianNLL(keras.losses.Loss):
    """Negative log-likelihood of Gaussian predictions (a `"gaussian"` MIMOHead).

    Mean over rows of the sum over units of
    `0.5 * log(2 * pi * sigma^2) + (y - mu)^2 / (2 * sigma^2)`.

    Inputs:
        `y_true`: `(N, units)`.
        `y_pred`: `(N, 2 * units)`: means then standard deviations.

    Example:

    ```python
    head = keras_mimo.MIMOHead(1, 3, ensemble_method="gaussian")
    model.compile("adam", keras_mimo.losses.GaussianNLL())
    ```

    References:
        Nix & Weigend, "Estimating the mean and variance of the target
        probability distribution", ICNN 1994; Lakshminarayanan et al.,
        "Simple and scalable predictive uncertainty estimation using deep
        ensembles", NeurIPS 2017.
    """

    def __init__(self, name="gaussian_nll", reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return gaussian_nll(y_true, y_pred)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, "dtype": self.dtype}
