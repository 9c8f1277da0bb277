"""Member-diversity measures of an ensemble (numpy, float64 results).

Every function takes member probabilities `probs` of shape `(N, M, K)`: N
examples, M members, K classes (or `(N, M, T, K)` for sequence predictions:
every position counts as an example). NaN or infinite `probs`, a missing
member axis and no rows raise a `ValueError` naming `probs`. The
uncertainty measures (entropy, mutual information) are
`keras_mimo.ensembles`'.
"""

import functools
import itertools

import numpy as np

from keras_mimo._validation import check_member_array
from keras_mimo._validation import check_real_array
from keras_mimo.ensembles import TINY
from keras_mimo.ensembles import to_numpy


def _member_probs(probs) -> np.ndarray:
    return check_member_array(probs, "probs")


def numpy_quantity(quantity, member_axis: bool):
    """`quantity` (a `keras_mimo.ensembles` function of probabilities) on a checked numpy array, float64.

    For the deprecated `keras_mimo.metrics.entropy` / `mutual_information`:
    `probs` must be finite real numbers, with a member axis when
    `member_axis` (an empty array is allowed and gives an empty result).
    """

    @functools.wraps(quantity)
    def on_arrays(probs):
        array = check_real_array(probs, "probs")
        if array.ndim < (3 if member_axis else 1):
            what = "member probabilities (N, M, K), with the members on axis 1" if member_axis else "(..., K)"
            raise ValueError(f"`probs` must be {what}. Received: shape {array.shape}")
        return to_numpy(quantity(array))

    return on_arrays


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
    log_p = np.log(np.clip(probs, TINY, 1.0))

    def kl(i, j):
        return np.mean(np.sum(probs[:, i] * (log_p[:, i] - log_p[:, j]), axis=-1))

    return float(np.mean([kl(i, j) for i, j in pairs] + [kl(j, i) for i, j in pairs]))


def cosine_similarity(probs) -> float | None:
    """Mean over member pairs of the mean cosine similarity of predictions; None for one member."""
    probs = _member_probs(probs)
    pairs = _pairs(probs.shape[1])
    if not pairs:
        return None
    unit = probs / np.maximum(np.linalg.norm(probs, axis=-1, keepdims=True), TINY)
    return float(np.mean([np.mean(np.sum(unit[:, i] * unit[:, j], -1)) for i, j in pairs]))
