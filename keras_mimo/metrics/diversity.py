"""Uncertainty and member-diversity measures of an ensemble (numpy, float64 results).

All functions but `entropy` take member probabilities `probs` of shape
`(N, M, K)`: N examples, M members, K classes (or `(N, M, T, K)` for
sequence predictions: every position counts as an example). Entropy and
mutual information are `keras_mimo.predictive`'s (float32, its floor
convention). NaN or infinite `probs`, a missing member axis, and (for the
pairwise measures, means over rows) no rows raise a `ValueError` naming `probs`.
"""

import itertools

import numpy as np

from keras_mimo import predictive
from keras_mimo._validation import check_member_array
from keras_mimo._validation import check_real_array

_TINY = predictive.TINY


def _member_probs(probs, allow_empty: bool = False) -> np.ndarray:
    if allow_empty:
        array = check_real_array(probs, "probs")
        if array.ndim >= 3:
            return array
    return check_member_array(probs, "probs")


def entropy(probs) -> np.ndarray:
    """Shannon entropy (nats) over the last axis: `(..., K)` to `(...)`."""
    probs = check_real_array(probs, "probs")
    if probs.ndim < 1:
        raise ValueError(f"`probs` must have a class axis (..., K). Received shape {probs.shape}.")
    return predictive.to_numpy(predictive.entropy(probs))


def mutual_information(probs) -> np.ndarray:
    """Per example: entropy of the mean minus the mean member entropy, clamped at 0, `(N,)` (`(N, T)` for sequences)."""
    return predictive.to_numpy(predictive.mutual_information(_member_probs(probs, allow_empty=True)))


def _pairs(num_members):
    return list(itertools.combinations(range(num_members), 2))


def disagreement(probs) -> float | None:
    """Mean over member pairs of the fraction of inputs whose argmax differs; None for one member."""
    probs = _member_probs(probs)
    top = probs.argmax(-1)
    pairs = _pairs(probs.shape[1])
    if not pairs:
        return None
    return float(np.mean([np.mean(top[:, i] != top[:, j]) for i, j in pairs]))


def average_kl(probs) -> float | None:
    """Mean over ordered member pairs `i != j` of the mean `KL(p_i || p_j)`; None for one member."""
    probs = _member_probs(probs)
    pairs = _pairs(probs.shape[1])
    if not pairs:
        return None
    log_p = np.log(np.clip(probs, _TINY, 1.0))

    def kl(i, j):
        return np.mean(np.sum(probs[:, i] * (log_p[:, i] - log_p[:, j]), axis=-1))

    return float(np.mean([kl(i, j) for i, j in pairs] + [kl(j, i) for i, j in pairs]))


def cosine_similarity(probs) -> float | None:
    """Mean over member pairs of the mean cosine similarity of predictions; None for one member."""
    probs = _member_probs(probs)
    pairs = _pairs(probs.shape[1])
    if not pairs:
        return None
    unit = probs / np.maximum(np.linalg.norm(probs, axis=-1, keepdims=True), _TINY)
    return float(np.mean([np.mean(np.sum(unit[:, i] * unit[:, j], -1)) for i, j in pairs]))
