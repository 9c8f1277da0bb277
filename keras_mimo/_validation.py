"""Every argument check of the package: one place, one message style."""

import math
import numbers

import numpy as np


def check_ensemble_size(value, name: str = "ensemble_size") -> int:
    """Returns `value` if it is an int >= 1, else raises naming `name`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"`{name}` must be a positive int (the number of ensemble "
            f"members). Received: {name}={value!r} of type "
            f"{type(value).__name__}"
        )
    if value < 1:
        raise ValueError(f"`{name}` must be a positive int (the number of ensemble members). Received: {name}={value}")
    return int(value)


def check_probability(value, name: str) -> float:
    """Returns `value` as a float if it lies in [0, 1], else raises."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"`{name}` must be a float in [0, 1]. Received: {name}={value!r} of type {type(value).__name__}"
        )
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"`{name}` must be a float in [0, 1]. Received: {name}={value}")
    return float(value)


def check_positive_int(value, name: str) -> int:
    """Returns `value` if it is an int >= 1, else raises naming `name`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an int >= 1. Received: {name}={value!r} of type {type(value).__name__}")
    if value < 1:
        raise ValueError(f"`{name}` must be an int >= 1. Received: {name}={value}")
    return int(value)


def check_batch_size(value):
    """`batch_size` as an int >= 1 (Python or numpy integer), or None (Keras's default), else raises."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`batch_size` must be an int >= 1. Received: batch_size={value!r}")
    if value < 1:
        raise ValueError(f"`batch_size` must be an int >= 1. Received: batch_size={value!r}")
    return int(value)


def check_seed(value, name: str = "seed"):
    """Returns `value` (a Python or numpy integer in [0, 2**32)) as an int, or None; else raises."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"`{name}` must be an int (Python or numpy integer) or None. "
            f"Received: {name}={value!r} of type {type(value).__name__}"
        )
    if not 0 <= int(value) < 2**32:  # JAX's random keys and numpy's generators take unsigned 32-bit seeds
        raise ValueError(f"`{name}` must be an int in [0, 2**32) or None. Received: {name}={value!r}")
    return int(value)


def check_mimo_arguments(input_repetition_probability, batch_repetitions, seed) -> tuple:
    """The checked training arguments of a MIMOModel, in this order."""
    return (
        check_probability(input_repetition_probability, "input_repetition_probability"),
        check_positive_int(batch_repetitions, "batch_repetitions"),
        check_seed(seed),
    )


# -- post-hoc and evaluation arguments: every message names the argument.


def check_positive_finite(value, name: str) -> float:
    """`value` (a number or a 0-d array) as a float if positive and finite, else raises."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a positive finite float. Received: {name}={value!r}")
    if not math.isfinite(float(value)) or float(value) <= 0.0:
        raise ValueError(f"`{name}` must be a positive finite float. Received: {name}={value!r}")
    return float(value)


def check_threshold(value, name: str) -> float:
    """A float >= 0 or +inf (a calibration set too small for alpha), else raises."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value) or value < 0:
        raise ValueError(f"`{name}` must be a float >= 0 (e.g. from fit_*). Received: {name}={value!r}")
    return float(value)


def check_thresholds(value, name: str):
    """A threshold (`check_threshold`), or a 1-D sequence of them (one per output unit) as a tuple."""
    if isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim):
        values = np.asarray(value, dtype=object)
        if values.ndim != 1 or not len(values):
            raise ValueError(
                f"`{name}` must be a float >= 0 or a 1-D sequence of them (one per output unit). "
                f"Received: {name}={value!r}"
            )
        return tuple(check_threshold(v, name) for v in values)
    return check_threshold(value, name)


def check_finite(values, name: str, hint: str = "") -> np.ndarray:
    """`values` as a float64 array, else a ValueError naming `name` when it holds NaN or inf."""
    values = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        rows = np.flatnonzero(bad.reshape(len(values), -1).any(-1)) if values.ndim else np.zeros(1, int)
        raise ValueError(
            f"`{name}` must be finite. Received {int(np.isnan(values).sum())} NaN and "
            f"{int(np.isinf(values).sum())} infinite values (e.g. rows {rows[:5].tolist()}){hint}."
        )
    return values


def check_alpha(alpha) -> float:
    """The miscoverage rate `alpha` as a float in (0, 1), else raises."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"`alpha` (the miscoverage rate) must be a float in (0, 1). Received: alpha={alpha!r}")
    return float(alpha)


def check_bounds(bounds) -> tuple:
    """`(log low, log high)` of a pair `(low, high)` of positive floats with low < high."""
    try:
        low, high = bounds
    except (TypeError, ValueError):
        raise ValueError(
            f"`bounds` must be a pair (low, high) of positive floats. Received: bounds={bounds!r}"
        ) from None
    low, high = check_positive_finite(low, "bounds"), check_positive_finite(high, "bounds")
    if not low < high:
        raise ValueError(f"`bounds` must be (low, high) with low < high. Received: bounds={bounds!r}")
    return math.log(low), math.log(high)


def check_label_range(labels, num_classes: int, name: str = "y_true"):
    """Raises a `ValueError` naming `name` if a label lies outside `[0, num_classes)`."""
    values = np.asarray(labels).reshape(-1)
    bad = (values < 0) | (values >= num_classes)
    if bad.any():
        raise ValueError(
            f"`{name}` must hold class indices in [0, {num_classes}). "
            f"Received {int(bad.sum())} labels outside it: "
            f"{sorted(set(values[bad].tolist()))[:10]}"
        )


def check_num_rows(num_rows: int, num_examples: int, name: str):
    """Raises unless `name` has one row per prediction."""
    if num_rows != num_examples:
        raise ValueError(
            f"`{name}` must have one row per example: {num_examples} predictions. Received: {num_rows} rows in `{name}`"
        )


def check_labels(y, num_examples: int, num_classes: int, name: str = "y") -> np.ndarray:
    """Integer labels `(N,)` from `(N,)`, `(N, 1)` or one-hot `(N, K)` `y`, checked; messages name `name`."""
    y = np.asarray(y)
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError(
            f"`{name}` must hold integer class indices (or one-hot rows). Received "
            f"{int(np.isnan(y).sum())} NaN and {int(np.isinf(y).sum())} infinite values."
        )
    if y.ndim == 2 and y.shape[-1] > 1:
        y = y.argmax(-1)
    labels = y.reshape(-1)
    if labels.dtype.kind == "f":
        bad = labels != np.round(labels)
        if bad.any():
            raise ValueError(
                f"`{name}` must hold integer class indices (or one-hot rows). Received "
                f"{int(bad.sum())} non-integer values, e.g. {labels[bad][:5].tolist()}."
            )
    elif labels.dtype.kind not in "iub":
        raise ValueError(f"`{name}` must hold integer class indices. Received dtype {labels.dtype}.")
    check_num_rows(len(labels), num_examples, name)
    check_label_range(labels, num_classes, name)
    return labels.astype(np.int64)


def check_targets(y, units: int, num_examples: int) -> np.ndarray:
    """Regression targets `(N, units)` float64, one row per prediction, finite; else raises."""
    y = np.asarray(y, dtype=np.float64)
    y = y.reshape(len(y), -1) if y.ndim else y.reshape(1, -1)
    if y.shape[-1] != units:
        raise ValueError(
            f"`y` must have one value per unit of the Gaussian head: shape (N, {units}). Received: shape {y.shape}"
        )
    check_num_rows(len(y), num_examples, "y")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"`y` holds {int((~np.isfinite(y)).sum())} NaN or infinite targets: drop those rows first.")
    return y


def check_y_scale(y_scale, units: int) -> np.ndarray:
    """`y_scale` as `(units,)` float64: a positive finite float, or one such value per unit."""
    expected = f"a positive finite float, or an array of {units} positive finite floats (one per output unit)"
    message = f"`y_scale` must be {expected}. Received: y_scale={y_scale!r}"
    if isinstance(y_scale, (str, bytes, bool)) or y_scale is None:
        raise ValueError(message)
    try:
        scale = np.asarray(y_scale, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if np.asarray(y_scale).dtype.kind not in "fiu":
        raise ValueError(message)
    if scale.ndim > 1 or (scale.ndim == 1 and len(scale) != units):
        raise ValueError(f"`y_scale` must be {expected}. Received an array of shape {scale.shape}.")
    if not (np.isfinite(scale).all() and (scale > 0).all()):
        raise ValueError(message)
    return np.broadcast_to(scale, (units,))


def check_probabilities(probs, model_name: str):
    """Raises when outputs read as probabilities are not (the form: logits vs probabilities).

    Rows must be non-negative and sum to 1 (a one-unit output lies in [0, 1]);
    otherwise the model likely outputs logits.
    """
    probs = np.asarray(probs)
    bad = (probs < -1e-6).any(-1) | (np.abs(probs.sum(-1) - 1.0) > 1e-2)  # float16 outputs round to ~1e-3
    if bad.any():
        raise ValueError(
            f"model {model_name!r}'s outputs are read as probabilities, but {int(bad.sum())} rows "
            "are negative or do not sum to 1: if the model outputs logits, pass from_logits=True."
        )


# -- checks of the bad-input battery (tests/test_bad_inputs.py): metrics, evaluation, batching, layers.


def check_count(value, name: str, minimum: int = 1) -> int:
    """`value` as an int if it is a Python or numpy integer >= `minimum`: a TypeError for other types
    (a float such as 2.5 or 2.0, a bool), a ValueError below `minimum`; both name `name`."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iu":
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"`{name}` must be an int >= {minimum}. Received: {name}={value!r} of type {type(value).__name__}"
        )
    if value < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}. Received: {name}={value!r}")
    return int(value)


def check_float(value, name: str, low=None, high=None, low_open=True, high_open=False):
    """`value` (a Python or numpy real, or a 0-d array) as a finite Python float in the interval, else raises.

    The interval is `(low, high]` by default (`low_open`, `high_open` say which ends are open; None = no
    bound). A TypeError for a non-number or a bool, a ValueError for NaN, inf or a value outside.
    """
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a float. Received: {name}={value!r} of type {type(value).__name__}")
    # a float16/float32 scalar is read as the decimal it prints as (np.float32(0.1) is 0.1)
    number = float(str(value)) if isinstance(value, np.floating) and np.finfo(value.dtype).bits < 64 else float(value)
    below = low is not None and (number <= low if low_open else number < low)
    above = high is not None and (number >= high if high_open else number > high)
    if not math.isfinite(number) or below or above:
        interval = (
            ("(" if low_open else "[")
            + ("-inf" if low is None else f"{low}")
            + ", "
            + ("inf" if high is None else f"{high}")
            + (")" if high_open or high is None else "]")
        )
        raise ValueError(f"`{name}` must be a finite float in {interval}. Received: {name}={value!r}")
    return number


def check_real_array(values, name: str, finite: bool = True) -> np.ndarray:
    """`values` as a float64 array: a TypeError naming `name` for non-numbers, a ValueError for a ragged
    nest or (with `finite`) for NaN or infinite values."""
    try:
        array = np.asarray(values)
    except ValueError as error:  # a ragged nest of sequences
        raise ValueError(f"`{name}` must be a rectangular array of numbers: {error}") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"`{name}` must hold real numbers. Received an array of dtype {array.dtype}.")
    array = array.astype(np.float64)
    if finite and not np.isfinite(array).all():
        raise ValueError(
            f"`{name}` must be finite. Received {int(np.isnan(array).sum())} NaN and "
            f"{int(np.isinf(array).sum())} infinite values."
        )
    return array


def check_member_array(values, name: str, what: str = "member probabilities (N, M, K)"):
    """A finite float64 array of rank >= 3 with at least one row (`what` it must be, for the message)."""
    array = check_real_array(values, name)
    if array.ndim < 3:
        raise ValueError(f"`{name}` must be {what}, with the members on axis 1. Received shape {array.shape}.")
    if not len(array):
        raise ValueError(f"`{name}` is empty: it needs at least one row. Received shape {array.shape}.")
    return array


def check_integer_values(labels, name: str) -> np.ndarray:
    """`labels` as an int64 array of any shape: a ValueError naming `name` for NaN, inf or fractional values."""
    labels = np.asarray(labels)
    if labels.dtype.kind == "b":
        return labels.astype(np.int64)
    if labels.dtype.kind == "f":
        bad = ~np.isfinite(labels)
        bad[~bad] = labels[~bad] != np.round(labels[~bad])
        if bad.any():
            raise ValueError(
                f"`{name}` must hold integer class indices. Received {int(bad.sum())} NaN, "
                f"infinite or fractional values, e.g. {labels[bad][:5].tolist()}."
            )
    elif labels.dtype.kind not in "iu":
        raise ValueError(f"`{name}` must hold integer class indices. Received dtype {labels.dtype}.")
    return labels.astype(np.int64)


def check_class_labels(labels, num_examples: int, num_classes: int, name: str = "labels"):
    """Integer labels `(N,)` from `(N,)`, `(N, 1)` or one-hot `(N, K)` `labels`, checked, naming `name`."""
    y = np.asarray(labels)
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        check_integer_values(y, name)  # raises, naming the NaN and inf
    if y.ndim == 2 and y.shape[-1] > 1:
        y = y.argmax(-1)
    values = check_integer_values(y.reshape(-1), name)
    if len(values) != num_examples:
        check_num_rows(len(values), num_examples, name)
    check_label_range(values, num_classes, name)
    return values


def check_inputs(x, name: str):
    """Array inputs `x` (an array or a nest of them) have rows and are finite, else a ValueError naming `name`.

    Leaves without a shape or `__array__` (datasets, generators) are left to
    the model, and so is a tensor numpy cannot read (e.g. a torch tensor on a
    GPU).
    """
    import keras

    for leaf in keras.tree.flatten(x):
        if getattr(leaf, "shape", None) is None or not hasattr(leaf, "__array__"):
            continue
        if len(leaf.shape) and leaf.shape[0] == 0:
            raise ValueError(
                f"`{name}` has no rows: it needs at least one. Received: {name} of shape {tuple(leaf.shape)}"
            )
        try:
            values = np.asarray(leaf)
        except (TypeError, RuntimeError):
            continue
        if values.dtype.kind in "fc" and not np.isfinite(values).all():
            bad = ~np.isfinite(values)
            rows = np.flatnonzero(bad.reshape(len(values), -1).any(-1)) if values.ndim else np.zeros(1, int)
            raise ValueError(
                f"`{name}` must be finite: drop or impute the rows that are not. Received: "
                f"{int(np.isnan(values).sum())} NaN and {int(np.isinf(values).sum())} infinite values, in "
                f"{len(rows)} rows (e.g. rows {rows[:5].tolist()})"
            )
