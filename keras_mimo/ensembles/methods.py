"""The ensemble methods: how a head's outputs read and how members combine.

The one registry of `ensemble_method`s. The head, the model, the metrics,
the wrappers and the evaluator all read outputs through it:

- `"mean"`: outputs are probabilities (softmax or sigmoid heads) or
  regression values; members combine by their arithmetic mean (the
  ensemble's predictive distribution is the mean member distribution).
- `"softmax_logits"`: outputs are logits of a softmax. Members combine to
  the logits whose softmax is the mean member probability,
  `logsumexp_m(log_softmax(z_m)) - log M`, never the mean of the logits.
- `"sigmoid_logits"`: outputs are logits of independent sigmoids. Members
  combine to `log(p) - log(1 - p)` of the mean member probability `p`,
  computed from log-sigmoids without forming `p`.
- `"gaussian"`: outputs are `[means, standard deviations]` of independent
  Gaussians, `(..., 2 * units)`. Members combine to the moment-matched
  Gaussian of their equal-weight mixture: mean `mean_m mu_m`, variance
  `mean_m (sigma_m^2 + mu_m^2) - mean^2`.

All functions compute in float32 with `keras.ops` (any backend).
"""

import math
import numbers

import keras
from keras import ops

from keras_mimo._validation import check_count
from keras_mimo._validation import check_float
from keras_mimo.ensembles.quantities import MIN_STD
from keras_mimo.ensembles.quantities import moment_matched
from keras_mimo.ensembles.quantities import split_gaussian

ENSEMBLE_METHODS = ("mean", "softmax_logits", "sigmoid_logits", "gaussian")


def check_ensemble_method(ensemble_method: str) -> str:
    """Returns `ensemble_method` if it is known, else raises `ValueError`."""
    if ensemble_method not in ENSEMBLE_METHODS:
        raise ValueError(
            f"`ensemble_method` must be one of {ENSEMBLE_METHODS}. Received: ensemble_method={ensemble_method!r}"
        )
    return ensemble_method


def _check_classifier(ensemble_method: str):
    check_ensemble_method(ensemble_method)
    if ensemble_method == "gaussian":
        raise ValueError(
            "Class probabilities need a classifier head; ensemble_method='gaussian' "
            "is a regression head (use keras_mimo.evaluate_regression). Received: ensemble_method='gaussian'"
        )


def _activation_name(activation) -> str:
    if activation is None:
        return "linear"
    name = keras.activations.serialize(keras.activations.get(activation))
    return name if isinstance(name, str) else getattr(activation, "__name__", "")


def default_ensemble_method(activation, units: int) -> str:
    """The method implied by a head's activation and units.

    Probabilities (softmax, sigmoid) and other activations average;
    log-softmax outputs and logits (no activation, `units > 1`) combine as
    softmax logits. A one-unit head without activation is ambiguous (binary
    logits or regression) and must say which it is. `units`: an int >= 1.
    """
    units = check_count(units, "units")
    name = _activation_name(activation)
    if name == "log_softmax":
        return "softmax_logits"
    if name != "linear":
        return "mean"
    if units > 1:
        return "softmax_logits"
    raise ValueError(
        "A MIMOHead with units=1 and no activation is ambiguous: pass "
        "ensemble_method='sigmoid_logits' if it emits binary-classification "
        "logits, or ensemble_method='mean' if it is a regression output."
    )


def logits_method(units: int) -> str:
    """The logits method of a classifier with `units` outputs (an int >= 1)."""
    units = check_count(units, "units")
    return "sigmoid_logits" if units == 1 else "softmax_logits"


def gaussian_parameters(raw):
    """Raw head outputs `(..., 2 * units)` to `[means, stds]`, float32.

    Standard deviations are `softplus(raw) + MIN_STD` (positive, smooth).
    """
    raw = ops.cast(raw, "float32")
    mean, raw_std = split_gaussian(raw, "raw")
    return ops.concatenate([mean, ops.softplus(raw_std) + MIN_STD], axis=-1)


def combine_members(members, ensemble_method: str, axis: int = 1):
    """Combines member outputs into the ensemble output.

    Args:
        members: float tensor with the members on `axis`, by default
            `(N, ensemble_size, ...)` as `MIMOModel.predict_members` returns.
        ensemble_method: one of `ENSEMBLE_METHODS` (see the module docstring).
        axis: the member axis.

    Returns:
        float32 tensor: `members` without `axis`.

    Raises:
        ValueError / TypeError: naming `ensemble_method`, `axis` (an int
            within the rank) or `members` (an odd last axis for "gaussian").
    """
    check_ensemble_method(ensemble_method)
    members = ops.cast(members, "float32")
    axis = _check_axis(axis, len(members.shape))
    if ensemble_method == "mean":
        return ops.mean(members, axis=axis)
    if ensemble_method == "gaussian":
        mean, std = moment_matched(*split_gaussian(ops.moveaxis(members, axis, 1), "members"))
        return ops.concatenate([mean, std], axis=-1)
    log_size = math.log(ops.shape(members)[axis])
    if ensemble_method == "softmax_logits":
        log_probs = ops.log_softmax(members, axis=-1)
        return ops.logsumexp(log_probs, axis=axis) - log_size
    # sigmoid_logits: log(mean p) - log(mean(1 - p)); the log M cancels.
    log_p = ops.logsumexp(ops.log_sigmoid(members), axis=axis)
    log_not_p = ops.logsumexp(ops.log_sigmoid(-members), axis=axis)
    return log_p - log_not_p


def _check_axis(axis, rank: int) -> int:
    """`axis` as a non-negative Python int within `rank`, else a TypeError / ValueError naming `axis`."""
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(
            f"`axis` must be an int (the member axis). Received: axis={axis!r} of type {type(axis).__name__}"
        )
    if not -rank <= axis < rank:
        raise ValueError(f"`axis` must lie within the rank {rank} of `members`. Received: axis={axis}")
    return int(axis) % rank


def to_probabilities(outputs, ensemble_method: str):
    """Class probabilities from a classifier's outputs, float32.

    Args:
        outputs: `(..., K)` outputs of the kind `ensemble_method` names
            (probabilities for `"mean"`, logits otherwise).
        ensemble_method: one of `ENSEMBLE_METHODS`.

    Returns:
        `(..., K)` probabilities; a one-unit output is a binary classifier
        and becomes `(..., 2)` = `[1 - p, p]` (one-unit logits are a
        sigmoid's).
    """
    _check_classifier(ensemble_method)
    outputs = ops.cast(outputs, "float32")
    binary = outputs.shape[-1] == 1
    if ensemble_method == "softmax_logits" and not binary:
        return ops.softmax(outputs, axis=-1)
    if ensemble_method != "mean":  # logits of one unit are a sigmoid's
        outputs = ops.sigmoid(outputs)
    if binary:
        return ops.concatenate([1.0 - outputs, outputs], axis=-1)
    return outputs


def to_log_probabilities(outputs, ensemble_method: str, epsilon: float):
    """Log class probabilities, `(..., K)` (`(..., 2)` for one unit), float32.

    Logits use a stable log-softmax (log-sigmoid for one unit);
    probabilities are clipped to `[epsilon, 1]` first (`epsilon`: a float
    in (0, 1)).
    """
    _check_classifier(ensemble_method)
    epsilon = check_float(epsilon, "epsilon", low=0.0, high=1.0, high_open=True)
    if ensemble_method == "mean":
        return ops.log(ops.clip(to_probabilities(outputs, "mean"), epsilon, 1.0))
    outputs = ops.cast(outputs, "float32")
    if ensemble_method == "sigmoid_logits" or outputs.shape[-1] == 1:
        return ops.concatenate([ops.log_sigmoid(-outputs), ops.log_sigmoid(outputs)], axis=-1)
    return ops.log_softmax(outputs, axis=-1)
