"""`evaluate_ensemble`: every uncertainty metric of an ensemble, one call."""

import numpy as np

from keras_mimo.evaluation import ood
from keras_mimo.evaluation import uncertainty
from keras_mimo.evaluation.predictions import member_probabilities
from keras_mimo.metrics import BrierScore
from keras_mimo.metrics import ExpectedCalibrationError
from keras_mimo.metrics import NegativeLogLikelihood


def _metric(metric, labels, probs) -> float:
    metric.update_state(labels, probs.astype("float32"))
    return float(np.asarray(metric.result()))


def reliability_bins(mean_probs, labels, num_bins: int = 15) -> dict:
    """Per-bin counts, accuracy and mean confidence (the reliability diagram).

    Bins as in `ExpectedCalibrationError`: `floor(confidence * num_bins)`,
    1.0 in the last bin; empty bins have `None` accuracy and confidence.
    """
    confidence = mean_probs.max(-1)
    correct = mean_probs.argmax(-1) == np.asarray(labels).reshape(-1)
    bins = np.minimum((confidence.astype(np.float32) * num_bins).astype(int), num_bins - 1)
    out = {"bin_upper_edges": [(b + 1) / num_bins for b in range(num_bins)], "count": [],
           "accuracy": [], "confidence": []}
    for b in range(num_bins):
        in_bin = bins == b
        out["count"].append(int(in_bin.sum()))
        out["accuracy"].append(float(correct[in_bin].mean()) if in_bin.any() else None)
        out["confidence"].append(float(confidence[in_bin].mean()) if in_bin.any() else None)
    return out


def scores_from_probabilities(probs, labels, num_bins: int = 15) -> dict:
    """The metric dictionary from member probabilities `(N, M, K)` and labels `(N,)`."""
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    if len(labels) != len(probs):
        raise ValueError(
            f"Got {len(probs)} predictions but {len(labels)} labels: `y` must "
            "have one label per example."
        )
    mean = probs.mean(1)
    members = range(probs.shape[1])
    member_accuracy = [float(np.mean(probs[:, m].argmax(-1) == labels)) for m in members]
    member_nll = [_metric(NegativeLogLikelihood(), labels, probs[:, m]) for m in members]
    return {
        "num_examples": int(len(labels)),
        "ensemble_size": int(probs.shape[1]),
        "accuracy": float(np.mean(mean.argmax(-1) == labels)),
        "nll": _metric(NegativeLogLikelihood(), labels, mean),
        "ece": _metric(ExpectedCalibrationError(num_bins), labels, mean),
        "brier": _metric(BrierScore(), labels, mean),
        "predictive_entropy": float(uncertainty.entropy(mean).mean()),
        "member_accuracy": member_accuracy,
        "member_nll": member_nll,
        "mean_member_accuracy": float(np.mean(member_accuracy)),
        "mean_member_nll": float(np.mean(member_nll)),
        "disagreement": uncertainty.disagreement(probs),
        "average_kl": uncertainty.average_kl(probs),
        "cosine_similarity": uncertainty.cosine_similarity(probs),
        "mutual_information": float(uncertainty.mutual_information(probs).mean()),
        "reliability": reliability_bins(mean, labels, num_bins),
    }


def ood_scores(in_probs, out_probs) -> dict:
    """AUROC, AUPR, FPR95 for three OOD scores (higher = more OOD)."""
    scores = {
        "max_prob": lambda p: 1.0 - p.mean(1).max(-1),
        "entropy": lambda p: uncertainty.entropy(p.mean(1)),
        "mutual_information": uncertainty.mutual_information,
    }
    results = {}
    for name, score in scores.items():
        s_in, s_out = score(in_probs), score(out_probs)
        results[name] = {
            "auroc": ood.auroc(s_in, s_out),
            "aupr": ood.aupr(s_in, s_out),
            "fpr95": ood.fpr_at_95_tpr(s_in, s_out),
        }
    return results


def evaluate_ensemble(
    model,
    x,
    y,
    ood_x=None,
    batch_size: int = 128,
    num_bins: int = 15,
    from_logits: bool | None = None,
    verbose="auto",
) -> dict:
    """Evaluates a MIMOModel, a deep ensemble or a single model, one way.

    The MIMOModel runs one forward pass per batch; a deep ensemble (a list of
    models) runs each member; a single model is a one-member ensemble.

    Args:
        model: a `MIMOModel`, a `keras.Model` or a list of `keras.Model`.
        x: test inputs `(N, ...)` (anything `predict` accepts that yields
            inputs only).
        y: integer labels `(N,)` (or one-hot `(N, K)`).
        ood_x: optional out-of-distribution inputs for OOD detection.
        batch_size: prediction batch size.
        num_bins: ECE bins.
        from_logits: whether the models output logits (`None`: a MIMOModel's
            head decides, other models output probabilities).
        verbose: Keras's prediction progress bar setting.

    Returns:
        A JSON-serialisable dict. Ensemble: `accuracy`, `nll` (of the mean
        probability), `ece`, `brier`, `predictive_entropy` (mean entropy of
        the mean probability). Members: `member_accuracy`, `member_nll`
        (lists) and their means. Diversity over member pairs:
        `disagreement`, `average_kl`, `cosine_similarity` (`None` for one
        member), and `mutual_information` (mean over examples). With
        `ood_x`: `ood` = {score: {auroc, aupr, fpr95}} for the scores
        `max_prob` (1 - max mean probability), `entropy` and
        `mutual_information`, OOD as the positive class. `reliability`:
        per-bin count, accuracy and confidence of the mean probability.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[-1] > 1:
        y = y.argmax(-1)
    probs = member_probabilities(model, x, batch_size, from_logits, verbose)
    results = scores_from_probabilities(probs, y, num_bins)
    if ood_x is not None:
        out_probs = member_probabilities(model, ood_x, batch_size, from_logits, verbose)
        results["ood"] = ood_scores(probs, out_probs)
    return results
