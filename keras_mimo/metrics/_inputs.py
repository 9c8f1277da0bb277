"""Labels, predictions and weights in the one form every metric works on.

Eager calls (numpy arrays, eager tensors; every torch call) are checked and
raise a `ValueError` naming the argument; traced steps (compiled
`fit`/`evaluate` on TensorFlow and JAX) cannot raise on values, so an
out-of-range label makes the result NaN (`poison_invalid`) there instead.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_mimo._validation import check_integer_values
from keras_mimo._validation import check_label_range


def _is_concrete(tensor) -> bool:
    """Whether `tensor` holds values now (eager), not a traced placeholder."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.executing_eagerly()
    if backend == "jax":
        import jax

        return not isinstance(tensor, jax.core.Tracer)
    return True  # torch and numpy run eagerly


def value_checked(value) -> bool:
    """Whether the values of an argument are checked: numpy and Python values, eager tensors."""
    if value is None:
        return False
    return not ops.is_tensor(value) or _is_concrete(value)


def check_finite_values(value, name: str):
    """A ValueError naming `name` when `value` holds NaN or inf (where `value_checked`)."""
    if not value_checked(value):
        return
    values = np.asarray(ops.convert_to_numpy(value))
    if values.dtype.kind in "fc" and not np.isfinite(values).all():
        raise ValueError(
            f"`{name}` must be finite. Received {int(np.isnan(values).sum())} NaN and "
            f"{int(np.isinf(values).sum())} infinite values (shape {values.shape})."
        )


def check_same_rows(y_true, expected_shape, name: str = "y_true", what: str = "label"):
    """A ValueError naming `name` unless `y_true` holds one `what` per position of `expected_shape`.

    Static shapes are compared where known (also in a traced step).
    """
    if None in tuple(y_true.shape) + tuple(expected_shape):
        return
    if math.prod(y_true.shape) != math.prod(expected_shape):
        raise ValueError(
            f"`{name}` must hold one {what} per prediction: shape {tuple(expected_shape)}. "
            f"Received: {name} of shape {tuple(y_true.shape)}."
        )


def class_labels(y_true, y_pred):
    """Integer labels in the shape of `y_pred` without its class axis, `y_pred.shape[:-1]`.

    `y_true` holds integer labels (`(N,)`, `(N, 1)`, or `(N, T)` for
    sequence predictions `(N, T, K)`) or one-hot rows of `y_pred`'s shape.
    A one-unit `y_pred` is a binary classifier (classes 0 and 1). Eager labels
    that are NaN, fractional, of the wrong count or outside the classes raise
    a `ValueError` naming `y_true`.
    """
    y_true = ops.convert_to_tensor(y_true)
    units = y_pred.shape[-1]
    num_classes = units if units > 1 else 2
    one_hot = len(y_true.shape) == len(y_pred.shape) and units > 1 and y_true.shape[-1] == units
    concrete = _is_concrete(y_true)
    if concrete:  # integer labels, or 0/1 one-hot rows
        check_integer_values(ops.convert_to_numpy(y_true), "y_true")
    if one_hot:
        labels = ops.argmax(y_true, axis=-1)
    else:
        check_same_rows(y_true, y_pred.shape[:-1])
        labels = y_true
    labels = ops.cast(ops.reshape(labels, ops.shape(y_pred)[:-1]), "int32")
    if concrete:
        check_label_range(ops.convert_to_numpy(labels), num_classes)
    return labels


def poison_invalid(values, labels, num_classes: int):
    """`values` with NaN where a label lies outside `[0, num_classes)`.

    In a traced step an out-of-range label cannot raise; a NaN result makes
    it visible instead of silently lowering the score.
    """
    valid = ops.logical_and(labels >= 0, labels < num_classes)
    return ops.where(valid, values, ops.full_like(values, float("nan")))


def check_weights(sample_weight):
    """A ValueError naming `sample_weight` when its (eager) values are NaN, inf or negative."""
    check_finite_values(sample_weight, "sample_weight")
    if value_checked(sample_weight) and (np.asarray(ops.convert_to_numpy(sample_weight)) < 0).any():
        raise ValueError("`sample_weight` must be non-negative.")


def position_weights(sample_weight, shape):
    """Sample weights broadcast to the prediction positions `shape` (e.g. `(N,)` or `(N, T)`), float32.

    Ones when `sample_weight` is None; eager weights must be finite and non-negative.
    """
    if sample_weight is None:
        return ops.ones(shape, "float32")
    check_weights(sample_weight)
    weights = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
    while len(weights.shape) > len(shape) and weights.shape[-1] == 1:
        weights = ops.squeeze(weights, -1)
    while len(weights.shape) < len(shape):
        weights = ops.expand_dims(weights, -1)
    return ops.broadcast_to(weights, shape)


# -- numpy inputs of the set-level metrics (selective prediction, OOD detection)


def as_array(values, name: str) -> np.ndarray:
    try:
        return np.asarray(values)
    except ValueError as error:  # ragged nested sequences
        raise ValueError(f"`{name}` must be a rectangular array of numbers. Received {values!r:.80}: {error}") from None


def real_array(values, name: str) -> np.ndarray:
    """`values` as a float64 array, or a TypeError naming `name` and what was received."""
    array = as_array(values, name)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"`{name}` must hold real numbers. Received {values!r:.80} (dtype {array.dtype}).")
    return array.astype(np.float64)


def check_finite_array(array: np.ndarray, name: str) -> None:
    """Raises a ValueError naming `name`, the count and the first position of NaN or infinite values."""
    bad = ~np.isfinite(array)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        where = first[0] if len(first) == 1 else first
        raise ValueError(
            f"`{name}` must be finite. Received {int(np.isnan(array).sum())} NaN and "
            f"{int(np.isinf(array).sum())} infinite values (the first at index {where}: {array[first]})."
        )


def finite_1d(values, name: str) -> np.ndarray:
    """`values` as a finite float64 `(N,)` array, N >= 1, else a clear error naming `name`."""
    array = real_array(values, name)
    if array.ndim != 1:
        raise ValueError(f"`{name}` must be a 1-D array (N,). Received shape {array.shape}.")
    if not len(array):
        raise ValueError(f"`{name}` is empty: the metric needs at least one row.")
    check_finite_array(array, name)
    return array
