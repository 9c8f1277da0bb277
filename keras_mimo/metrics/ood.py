"""Out-of-distribution detection scores: AUROC, AUPR-In, AUPR-Out and FPR at 95% TPR.

Score convention: every OOD score is an uncertainty, higher = "more likely
out of distribution" (so the max-probability score is `1 - max_k p̄_k`,
named `one_minus_max_prob`). Out-of-distribution rows are the positive class
of AUROC, FPR95 and AUPR-Out; AUPR-In takes the in-distribution rows as
positives, ranked by the negated score. The names are OpenOOD's `aupr_in` /
`aupr_out`; torch-uncertainty's single `AUPR` is `aupr_out`. Both are average
precision (scikit-learn's `average_precision_score`, a step sum), not a
trapezoidal area under the precision-recall curve. Ties are handled exactly
(average ranks for AUROC, one threshold per distinct score for the AUPRs and
FPR95).
"""

import warnings

import numpy as np

from keras_mimo.ensembles import entropy
from keras_mimo.ensembles import mutual_information
from keras_mimo.ensembles import to_numpy
from keras_mimo.metrics._inputs import check_finite_array
from keras_mimo.metrics._inputs import finite_1d
from keras_mimo.metrics._inputs import real_array

__all__ = ["OOD_SCORES", "aupr", "aupr_in", "aupr_out", "auroc", "fpr_at_95_tpr", "ood_scores"]


def _scores(in_scores, out_scores):
    """Validated `(in float64 (N_in,), out float64 (N_out,))`, both finite and non-empty."""
    return finite_1d(in_scores, "in_scores"), finite_1d(out_scores, "out_scores")


def _labels_and_scores(in_scores, out_scores):
    """Labels (1 = OOD) and scores of the concatenated rows."""
    labels = np.concatenate([np.zeros(len(in_scores)), np.ones(len(out_scores))])
    return labels, np.concatenate([in_scores, out_scores])


def _roc_points(labels, scores):
    """(fpr, tpr, precision) at every distinct threshold, highest first."""
    order = np.argsort(-scores, kind="mergesort")
    scores, labels = scores[order], labels[order]
    last_of_value = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    true_pos = np.cumsum(labels)[last_of_value]
    false_pos = (last_of_value + 1) - true_pos
    tpr = true_pos / labels.sum()
    fpr = false_pos / (len(labels) - labels.sum())
    precision = true_pos / (last_of_value + 1)
    return fpr, tpr, precision


def _average_precision(negative_scores, positive_scores) -> float:
    """`sum_n (R_n - R_{n-1}) P_n` over the distinct thresholds, positives scored higher."""
    _, recall, precision = _roc_points(*_labels_and_scores(negative_scores, positive_scores))
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def auroc(in_scores, out_scores) -> float:
    """Area under the ROC curve, OOD positive: P(out score > in score) + P(tie) / 2.

    Args:
        in_scores: `(N_in,)` finite OOD scores of in-distribution rows (higher = more OOD).
        out_scores: `(N_out,)` finite OOD scores of out-of-distribution rows.
    """
    labels, scores = _labels_and_scores(*_scores(in_scores, out_scores))
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    # average 1-based rank of each distinct value
    ends = np.cumsum(counts)
    ranks = (ends - (counts - 1) / 2.0)[inverse]
    num_pos, num_neg = labels.sum(), len(labels) - labels.sum()
    return float((ranks[labels == 1].sum() - num_pos * (num_pos + 1) / 2) / (num_pos * num_neg))


def aupr_out(in_scores, out_scores) -> float:
    """AUPR-Out: average precision with OOD rows as positives ranked by the score (higher = more OOD).

    Args:
        in_scores: `(N_in,)` finite OOD scores of in-distribution rows.
        out_scores: `(N_out,)` finite OOD scores of out-of-distribution rows.

    Returns:
        `sum_n (R_n - R_{n-1}) P_n` over the distinct thresholds (scikit-learn's
        `average_precision_score` with the OOD rows labelled 1).
    """
    s_in, s_out = _scores(in_scores, out_scores)
    return _average_precision(s_in, s_out)


def aupr_in(in_scores, out_scores) -> float:
    """AUPR-In: average precision with in-distribution rows as positives ranked by the negated score.

    Args:
        in_scores: `(N_in,)` finite OOD scores of in-distribution rows (higher = more OOD).
        out_scores: `(N_out,)` finite OOD scores of out-of-distribution rows.

    Returns:
        scikit-learn's `average_precision_score` with the in-distribution rows
        labelled 1 and `-score` as their score.
    """
    s_in, s_out = _scores(in_scores, out_scores)
    return _average_precision(-s_out, -s_in)


def aupr(in_scores, out_scores) -> float:
    """Deprecated alias of `aupr_out` (OOD as positives); use `aupr_out` or `aupr_in`."""
    warnings.warn(
        "`keras_mimo.metrics.aupr` is deprecated: it is `aupr_out` (OOD rows as positives); "
        "use `aupr_out`, or `aupr_in` for in-distribution rows as positives.",
        DeprecationWarning,
        stacklevel=2,
    )
    return aupr_out(in_scores, out_scores)


def fpr_at_95_tpr(in_scores, out_scores) -> float:
    """False-positive rate at the first threshold where TPR >= 0.95 (OOD positive).

    Args:
        in_scores: `(N_in,)` finite OOD scores of in-distribution rows (higher = more OOD).
        out_scores: `(N_out,)` finite OOD scores of out-of-distribution rows.
    """
    labels, scores = _labels_and_scores(*_scores(in_scores, out_scores))
    fpr, tpr, _ = _roc_points(labels, scores)
    return float(fpr[np.argmax(tpr >= 0.95)])


OOD_SCORES = {
    "one_minus_max_prob": lambda probs: 1.0 - probs.mean(1).max(-1),
    "entropy": lambda probs: to_numpy(entropy(probs.mean(1))),
    "mutual_information": lambda probs: to_numpy(mutual_information(probs)),
}
"""OOD scores `(N, M, K) -> (N,)` of member probabilities, higher = more OOD."""


class _RenamedKeys(dict):
    """A plain dict whose renamed keys still read, with a DeprecationWarning, for one release.

    Only `d[old]` is redirected (`in`, `get`, iteration and JSON see the new keys).
    """

    renamed: dict = {}

    def __missing__(self, key):
        new = self.renamed.get(key)
        if new is None or new not in self:
            raise KeyError(key)
        warnings.warn(
            f"The OOD result key {key!r} is deprecated; read {new!r}.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self[new]


class _ScoreResults(_RenamedKeys):
    renamed = {"max_prob": "one_minus_max_prob"}


class _DetectionResults(_RenamedKeys):
    renamed = {"aupr": "aupr_out"}


def _probabilities(probs, name: str) -> np.ndarray:
    """`probs` as a finite float64 `(N, M, K)` array of probabilities, else a clear error naming `name`."""
    array = real_array(probs, name)
    if array.ndim != 3 or 0 in array.shape:
        raise ValueError(f"`{name}` must be non-empty member probabilities (N, M, K). Received shape {array.shape}.")
    check_finite_array(array, name)
    if array.min() < 0.0 or array.max() > 1.0 + 1e-6:
        raise ValueError(
            f"`{name}` must hold probabilities in [0, 1]. Received values in [{array.min()}, {array.max()}]."
        )
    return array


def ood_scores(in_probs, out_probs) -> dict:
    """AUROC, AUPR-In, AUPR-Out and FPR95 of three OOD scores of an ensemble.

    Args:
        in_probs: member probabilities `(N_in, M, K)` on in-distribution inputs.
        out_probs: member probabilities `(N_out, M', K)` on out-of-distribution
            inputs (the same K classes).

    Returns:
        `{score: {"auroc", "aupr_in", "aupr_out", "fpr95"}}` for the scores
        `one_minus_max_prob` (1 - max mean probability), `entropy` (of the mean
        probability) and `mutual_information`; each is higher for more OOD,
        and OOD is the positive class except in `aupr_in`. The previous names
        `["max_prob"]` and `["aupr"]` (= `aupr_out`) still read, with a
        DeprecationWarning, for one release.
    """
    in_probs, out_probs = _probabilities(in_probs, "in_probs"), _probabilities(out_probs, "out_probs")
    if in_probs.shape[-1] != out_probs.shape[-1]:
        raise ValueError(
            "`in_probs` and `out_probs` must have the same number of classes K (last axis). "
            f"Received shapes {in_probs.shape} and {out_probs.shape}."
        )
    results = _ScoreResults()
    for name, score in OOD_SCORES.items():
        s_in, s_out = score(in_probs), score(out_probs)
        results[name] = _DetectionResults(
            auroc=auroc(s_in, s_out),
            aupr_in=aupr_in(s_in, s_out),
            aupr_out=aupr_out(s_in, s_out),
            fpr95=fpr_at_95_tpr(s_in, s_out),
        )
    return results
