"""Out-of-distribution detection scores: AUROC, AUPR and FPR at 95% TPR.

Out-of-distribution examples are the positive class; a higher score means
"more likely out of distribution". Ties are handled exactly (average ranks
for AUROC, one threshold per distinct score for AUPR and FPR95).
"""

import numpy as np

from keras_mimo.metrics import diversity


def _labels_and_scores(in_scores, out_scores):
    in_scores = np.asarray(in_scores, dtype=np.float64).ravel()
    out_scores = np.asarray(out_scores, dtype=np.float64).ravel()
    if not len(in_scores) or not len(out_scores):
        raise ValueError(
            "OOD metrics need in- and out-of-distribution scores. Received "
            f"{len(in_scores)} in-distribution and {len(out_scores)} OOD scores."
        )
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


def auroc(in_scores, out_scores) -> float:
    """Area under the ROC curve: P(out score > in score) + P(tie) / 2."""
    labels, scores = _labels_and_scores(in_scores, out_scores)
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    # average 1-based rank of each distinct value
    ends = np.cumsum(counts)
    ranks = (ends - (counts - 1) / 2.0)[inverse]
    num_pos, num_neg = labels.sum(), len(labels) - labels.sum()
    return float((ranks[labels == 1].sum() - num_pos * (num_pos + 1) / 2) / (num_pos * num_neg))


def aupr(in_scores, out_scores) -> float:
    """Average precision with OOD as positives: sum_n (R_n - R_{n-1}) P_n."""
    labels, scores = _labels_and_scores(in_scores, out_scores)
    _, recall, precision = _roc_points(labels, scores)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def fpr_at_95_tpr(in_scores, out_scores) -> float:
    """False-positive rate at the first threshold where TPR >= 0.95."""
    labels, scores = _labels_and_scores(in_scores, out_scores)
    fpr, tpr, _ = _roc_points(labels, scores)
    return float(fpr[np.argmax(tpr >= 0.95)])


OOD_SCORES = {
    "max_prob": lambda probs: 1.0 - probs.mean(1).max(-1),
    "entropy": lambda probs: diversity.entropy(probs.mean(1)),
    "mutual_information": diversity.mutual_information,
}


def ood_scores(in_probs, out_probs) -> dict:
    """AUROC, AUPR and FPR95 of three OOD scores of an ensemble.

    Args:
        in_probs, out_probs: member probabilities `(N, M, K)` on in- and
            out-of-distribution inputs.

    Returns:
        `{score: {"auroc", "aupr", "fpr95"}}` for the scores `max_prob`
        (1 - max mean probability), `entropy` (of the mean probability) and
        `mutual_information`; higher scores mean more OOD.
    """
    results = {}
    for name, score in OOD_SCORES.items():
        s_in, s_out = score(in_probs), score(out_probs)
        results[name] = {
            "auroc": auroc(s_in, s_out),
            "aupr": aupr(s_in, s_out),
            "fpr95": fpr_at_95_tpr(s_in, s_out),
        }
    return results
