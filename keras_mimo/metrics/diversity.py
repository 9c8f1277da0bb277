"""Uncertainty and member-diversity measures of an ensemble (numpy, float64).

All functions take member probabilities `probs` of shape
`(N, M, K)`: N examples, M members, K classes.
"""

import itertools

import numpy as np

_TINY = 1e-12


def entropy(probs):
    """Shannon entropy (nats) over the last axis."""
    return -np.sum(probs * np.log(np.clip(probs, _TINY, 1.0)), axis=-1)


def mutual_information(probs):
    """Per example: entropy of the mean minus the mean member entropy `(N,)`."""
    return entropy(probs.mean(1)) - entropy(probs).mean(1)


def _pairs(num_members):
    return list(itertools.combinations(range(num_members), 2))


def disagreement(probs) -> float | None:
    """Mean over member pairs of the fraction of inputs whose argmax differs."""
    top = probs.argmax(-1)
    pairs = _pairs(probs.shape[1])
    if not pairs:
        return None
    return float(np.mean([np.mean(top[:, i] != top[:, j]) for i, j in pairs]))


def average_kl(probs) -> float | None:
    """Mean over ordered member pairs `i != j` of the mean `KL(p_i || p_j)`."""
    pairs = _pairs(probs.shape[1])
    if not pairs:
        return None
    log_p = np.log(np.clip(probs, _TINY, 1.0))

    def kl(i, j):
        return np.mean(np.sum(probs[:, i] * (log_p[:, i] - log_p[:, j]), axis=-1))

    return float(np.mean([kl(i, j) for i, j in pairs] + [kl(j, i) for i, j in pairs]))


def cosine_similarity(probs) -> float | None:
    """Mean over member pairs of the mean cosine similarity of predictions."""
    pairs = _pairs(probs.shape[1])
    if not pairs:
        return None
    unit = probs / np.maximum(np.linalg.norm(probs, axis=-1, keepdims=True), _TINY)
    return float(np.mean([np.mean(np.sum(unit[:, i] * unit[:, j], -1)) for i, j in pairs]))
