"""Every quantity derived from an ensemble's members, written once in `keras.ops`.

The wrappers (`with_uncertainty`, `with_temperature`, ...) call these
functions symbolically; the numpy paths (`fit_*`, `evaluate_*`,
`keras_mimo.metrics`) call the same functions on arrays and convert the
result with `to_numpy`. All compute in float32.

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
alone). Shapes are checked: a missing member axis or an odd number of
Gaussian columns raises a `ValueError` naming the argument. The streaming
Keras metrics (`keras_mimo.metrics.NegativeLogLikelihood`, ...) keep Keras's
convention instead: probabilities clipped to `[keras.config.epsilon(), 1]`.
"""

import math

import numpy as np
from keras import ops

TINY = 1e-30
# Standard deviations never fall below this (float32), so NLLs stay finite.
MIN_STD = 1e-6


def _f32(x):
    return ops.cast(x, "float32")


def to_numpy(x) -> np.ndarray:
    """A tensor (or a tuple or list of tensors) as float64 numpy arrays."""
    if isinstance(x, (tuple, list)):
        return type(x)(to_numpy(t) for t in x)
    return np.asarray(ops.convert_to_numpy(x), dtype=np.float64)


def _with_member_axis(x, name: str, min_rank: int = 3, what: str = "(N, M, K)"):
    """`x` as float32, after checking its static rank: the members are axis 1."""
    x = _f32(x)
    if len(x.shape) < min_rank:
        raise ValueError(f"`{name}` must be {what}, with the members on axis 1. Received: shape {tuple(x.shape)}")
    if x.shape[1] == 0:
        raise ValueError(f"`{name}` must hold at least one member on axis 1. Received: shape {tuple(x.shape)}")
    return x


def log_probabilities(probs):
    """`log(max(probs, TINY))`, float32, any shape."""
    return ops.log(ops.maximum(_f32(probs), TINY))


def ensemble_probabilities(member_probs):
    """The ensemble's predictive distribution, the mean member probability: `(N, M, K)` to `(N, K)`."""
    return ops.mean(_with_member_axis(member_probs, "member_probs"), axis=1)


def log_mean_exp(member_log_probs):
    """`log mean_m exp(member_log_probs)`, stably: `(N, M, ...)` to `(N, ...)`.

    The log of the mean member probability from the members'
    log-probabilities (e.g. log-softmax of logits), without forming the
    probabilities; also the log-density of an equal-weight mixture.
    """
    member_log_probs = _with_member_axis(member_log_probs, "member_log_probs", 2, "(N, M, ...)")
    return ops.logsumexp(member_log_probs, axis=1) - math.log(member_log_probs.shape[1])


def entropy(probs):
    """Shannon entropy in nats over the last axis: `(..., K)` to `(...)`."""
    probs = _f32(probs)
    return -ops.sum(probs * log_probabilities(probs), axis=-1)


def expected_entropy(member_probs):
    """The mean member entropy (aleatoric part): `(N, M, K)` to `(N,)` (`(N, M, T, K)` to `(N, T)`)."""
    return ops.mean(entropy(_with_member_axis(member_probs, "member_probs")), axis=1)


def mutual_information(member_probs):
    """Entropy of the mean minus the mean member entropy (epistemic part), `>= 0`: `(N, M, K)` to `(N,)`."""
    member_probs = _with_member_axis(member_probs, "member_probs")
    total = entropy(ensemble_probabilities(member_probs))
    return ops.maximum(total - expected_entropy(member_probs), 0.0)


def split_gaussian(outputs, name: str = "outputs"):
    """`(..., 2 * units)` Gaussian outputs to `(means, stds)`, each `(..., units)`; `name` names the argument."""
    columns = outputs.shape[-1]
    if columns is None or columns % 2:
        raise ValueError(
            f"`{name}` must be Gaussian outputs (..., 2 * units): means, then standard deviations. "
            f"Received: shape {tuple(outputs.shape)}"
        )
    units = columns // 2
    return outputs[..., :units], outputs[..., units:]


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
            f"`stds` must have the shape of `means`, (N, M, units). Received: shapes {tuple(means.shape)} and "
            f"{tuple(stds.shape)}"
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
