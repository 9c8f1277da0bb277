"""Every quantity derived from an ensemble's members, written once in `keras.ops`.

The wrappers (`with_uncertainty`, `with_temperature`, `with_prediction_sets`,
...) call these functions symbolically; the numpy paths (`fit_*`,
`evaluate_*`, `keras_mimo.metrics`) call the same functions on arrays and
convert the result with `to_numpy`. All compute in float32.

Shapes: member probabilities `(N, M, K)` (M members, K classes), member
Gaussians as means and standard deviations `(N, M, units)`; the member axis
is 1.

Floor convention (one for the whole package): a probability is floored at
`TINY = 1e-30` before its logarithm, so `0 log 0 = 0` in entropies and a
zero probability costs `-log(1e-30) = 69.1` nats instead of infinity.
Differences that are non-negative in exact arithmetic (mutual information,
the variance of the member means) are clamped at 0 against rounding; a
moment-matched standard deviation is at least `MIN_STD`.

Bad input: these functions run inside traced model graphs, where values
cannot be checked, so a NaN row gives a NaN row (and leaves the other rows
alone). Shapes and arguments are checked: a missing member axis, an odd
number of Gaussian columns, a non-positive temperature or scale raise a
`ValueError` (`TypeError` for a wrong type) naming the argument. The streaming
Keras metrics (`keras_mimo.metrics.NegativeLogLikelihood`, ...) keep Keras's
convention instead: probabilities clipped to `[keras.config.epsilon(), 1]`.
"""

import math

import numpy as np
from keras import ops

from keras_mimo._validation import check_count
from keras_mimo._validation import check_float

__all__ = [
    "CONFORMAL_SCORES",
    "MIN_STD",
    "TINY",
    "class_scores",
    "ensemble_log_probabilities",
    "ensemble_probabilities",
    "entropy",
    "expected_entropy",
    "gaussian_moments",
    "log_probabilities",
    "moment_matched",
    "mutual_information",
    "scaled_log_probabilities",
    "scaled_stds",
    "split_gaussian",
    "to_numpy",
]

TINY = 1e-30
# Standard deviations never fall below this (float32), so NLLs stay finite.
MIN_STD = 1e-6
CONFORMAL_SCORES = ("lac", "aps", "raps")


def _f32(x):
    return ops.cast(x, "float32")


def to_numpy(x) -> np.ndarray:
    """A tensor (or nest of tensors) as float64 numpy arrays."""
    if isinstance(x, (tuple, list)):
        return type(x)(to_numpy(t) for t in x)
    return np.asarray(ops.convert_to_numpy(x), dtype=np.float64)


def _with_member_axis(x, name: str, min_rank: int = 3, what: str = "(N, M, K)"):
    """`x` as float32, after checking its static rank: the members are axis 1."""
    x = _f32(x)
    if len(x.shape) < min_rank:
        raise ValueError(f"`{name}` must be {what}, with the members on axis 1. Received shape {tuple(x.shape)}.")
    return x


def log_probabilities(probs):
    """`log(max(probs, TINY))`, float32, any shape."""
    return ops.log(ops.maximum(_f32(probs), TINY))


def ensemble_probabilities(member_probs):
    """The ensemble's predictive distribution, the mean member probability: `(N, M, K)` to `(N, K)`."""
    return ops.mean(_with_member_axis(member_probs, "member_probs"), axis=1)


def ensemble_log_probabilities(member_log_probs):
    """`log mean_m exp(member_log_probs)`, stably: `(N, M, ...)` to `(N, ...)`.

    The log of the mean member probability from members' log-probabilities
    (e.g. log-softmax of logits), without forming the probabilities.
    """
    member_log_probs = _with_member_axis(member_log_probs, "member_log_probs", 2, "(N, M, ...)")
    return ops.logsumexp(member_log_probs, axis=1) - math.log(member_log_probs.shape[1])


def entropy(probs):
    """Shannon entropy in nats over the last axis: `(..., K)` to `(...)`."""
    probs = _f32(probs)
    return -ops.sum(probs * log_probabilities(probs), axis=-1)


def expected_entropy(member_probs):
    """The mean member entropy (aleatoric part): `(N, M, K)` to `(N,)`."""
    return ops.mean(entropy(_with_member_axis(member_probs, "member_probs")), axis=1)


def mutual_information(member_probs):
    """Entropy of the mean minus the mean member entropy (epistemic part), `>= 0`: `(N,)`."""
    member_probs = _with_member_axis(member_probs, "member_probs")
    total = entropy(ensemble_probabilities(member_probs))
    return ops.maximum(total - expected_entropy(member_probs), 0.0)


def gaussian_moments(means, stds):
    """`(mean, aleatoric variance, epistemic variance)` of the members' equal-weight mixture.

    Args:
        means, stds: `(N, M, units)`.

    Returns:
        Three `(N, units)` tensors: the mixture's mean `mean_m mu_m`, the
        mean member variance `mean_m sigma_m^2` and the variance of the
        member means `mean_m (mu_m - mean)^2` (two-pass, clamped at 0).
    """
    means, stds = _with_member_axis(means, "means", what="(N, M, units)"), _f32(stds)
    if tuple(stds.shape) != tuple(means.shape):
        raise ValueError(
            f"`stds` must have the shape of `means`, (N, M, units). Received shapes {tuple(means.shape)} and "
            f"{tuple(stds.shape)}."
        )
    mean = ops.mean(means, axis=1)
    aleatoric = ops.mean(ops.square(stds), axis=1)
    epistemic = ops.maximum(ops.mean(ops.square(means - ops.expand_dims(mean, 1)), axis=1), 0.0)
    return mean, aleatoric, epistemic


def moment_matched(means, stds):
    """The moment-matched Gaussian `(mean, std)` `(N, units)` of member Gaussians `(N, M, units)`.

    `std = sqrt(aleatoric + epistemic)`, at least `MIN_STD`.
    """
    mean, aleatoric, epistemic = gaussian_moments(means, stds)
    return mean, ops.sqrt(ops.maximum(aleatoric + epistemic, MIN_STD**2))


def class_scores(probs, score: str = "lac", lam: float = 0.01, k_reg: int = 5):
    """Every class's conformal nonconformity score: `(N, K)` probabilities to `(N, K)`.

    - `"lac"`: `1 - p_c`.
    - `"aps"` (non-randomized): `sum_j p_j [p_j >= p_c]`.
    - `"raps"`: `aps + lam * max(0, rank_c - k_reg)`, `rank_c = #{j : p_j >= p_c}`.

    APS and RAPS compare every pair of classes: memory `(N, K, K)`. `lam`:
    a finite float >= 0; `k_reg`: an int >= 0; `probs`: `(N, K)`.
    """
    if score not in CONFORMAL_SCORES:
        raise ValueError(f"`score` must be one of {CONFORMAL_SCORES}. Received: score={score!r}")
    lam = check_float(lam, "lam", low=0.0, low_open=False)
    k_reg = check_count(k_reg, "k_reg", minimum=0)
    probs = _f32(probs)
    if len(probs.shape) != 2:
        raise ValueError(f"`probs` must be (N, K) class probabilities. Received shape {tuple(probs.shape)}.")
    if score == "lac":
        return 1.0 - probs
    at_least = ops.cast(probs[:, None, :] >= probs[:, :, None], "float32")  # [n, c, j]: p_j >= p_c
    scores = ops.sum(probs[:, None, :] * at_least, axis=-1)
    if score == "raps":
        rank = ops.sum(at_least, axis=-1)
        scores = scores + float(lam) * ops.maximum(0.0, rank - float(k_reg))
    return scores


def scaled_log_probabilities(log_probs, temperature: float):
    """Temperature scaling: `log softmax(log_probs / temperature)` over the last axis (`temperature` > 0)."""
    temperature = check_float(temperature, "temperature", low=0.0)
    return ops.log_softmax(_f32(log_probs) / temperature, axis=-1)


def split_outputs(outputs, name: str):
    """`split_gaussian`, naming the argument `name` when its last axis is odd."""
    columns = outputs.shape[-1]
    if columns is None or columns % 2:
        raise ValueError(
            f"`{name}` must be Gaussian outputs (..., 2 * units): means, then standard deviations. "
            f"Received shape {tuple(outputs.shape)}."
        )
    units = columns // 2
    return outputs[..., :units], outputs[..., units:]


def split_gaussian(outputs):
    """`(..., 2 * units)` Gaussian outputs to `(means, stds)`, each `(..., units)`."""
    return split_outputs(outputs, "outputs")


def scaled_stds(gaussian, scale: float):
    """Std scaling of a Gaussian output `[means, stds]` `(..., 2 * units)`: the stds times `scale` (> 0)."""
    scale = check_float(scale, "scale", low=0.0)
    mean, std = split_outputs(_f32(gaussian), "gaussian")
    return ops.concatenate([mean, std * scale], axis=-1)
