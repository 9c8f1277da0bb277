"""`evaluate_ensemble`: every uncertainty metric of an ensemble, one call."""

import numpy as np

from keras_mimo._validation import check_class_labels
from keras_mimo._validation import check_inputs
from keras_mimo._validation import check_labels
from keras_mimo._validation import check_member_array
from keras_mimo._validation import check_positive_int
from keras_mimo._validation import check_real_array
from keras_mimo.metrics import BrierScore
from keras_mimo.metrics import ExpectedCalibrationError
from keras_mimo.metrics import NegativeLogLikelihood
from keras_mimo.metrics import adaptive_calibration_error
from keras_mimo.metrics import augrc
from keras_mimo.metrics import aurc
from keras_mimo.ensembles import entropy
from keras_mimo.ensembles import log_mean_exp
from keras_mimo.ensembles import mutual_information
from keras_mimo.ensembles import to_numpy
from keras_mimo.ensembles.reading import EnsembleReader
from keras_mimo.metrics import diversity
from keras_mimo.metrics.ood import ood_scores

__all__ = ["evaluate_ensemble", "reliability_bins", "scores_from_probabilities"]


def _metric(metric, labels, probs) -> float:
    metric.update_state(labels, probs.astype("float32"))
    return float(np.asarray(metric.result()))


def reliability_bins(mean_probs, labels, num_bins: int = 15) -> dict:
    """Per-bin counts, accuracy and mean confidence (the reliability diagram).

    The bins of `ExpectedCalibrationError` (`floor(confidence * num_bins)`,
    1.0 in the last bin); empty bins have `None` accuracy and confidence.
    `mean_probs` `(N, K)` (or `(N, T, K)`, every position a row) and integer
    `labels` `(N,)` (`(N, T)`); NaN or inf, labels that are not class
    indices, or a label count that does not match raise a `ValueError` naming
    the argument.
    """
    num_bins = check_positive_int(num_bins, "num_bins")
    mean_probs = check_real_array(mean_probs, "mean_probs")
    if mean_probs.ndim < 2:
        raise ValueError(f"`mean_probs` must be (N, K). Received: shape {mean_probs.shape}")
    labels = np.asarray(labels)
    if mean_probs.ndim > 2 and labels.shape == mean_probs.shape[:-1]:  # sequence predictions: a row per position
        labels = labels.reshape(-1)
    mean_probs = mean_probs.reshape(-1, mean_probs.shape[-1])
    labels = check_class_labels(labels, len(mean_probs), mean_probs.shape[-1], "labels")
    ece = ExpectedCalibrationError(num_bins)
    ece.update_state(labels, mean_probs.astype("float32"))
    bins = ece.reliability()
    bins["count"] = [int(round(c)) for c in bins["count"]]
    return bins


def _log_space_nll(log_probs, labels):
    """Ensemble and member NLL from log-probabilities `(N, M, K)`, unclipped.

    The ensemble's log-probability of the label is the log-mean-exp of the
    members' (the reference's definition for logits models).
    """
    true = np.take_along_axis(log_probs, labels[:, None, None], axis=-1)[..., 0]  # (N, M)
    log_mean = to_numpy(log_mean_exp(true))
    return float(-log_mean.mean()), [float(-true[:, m].mean()) for m in range(true.shape[1])]


def scores_from_probabilities(probs, labels, num_bins: int = 15, log_probs=None) -> dict:
    """The metric dictionary from member probabilities `(N, M, K)` and labels `(N,)`.

    With `log_probs` (`(N, M, K)`, from logits) the NLLs are computed in log
    space: the ensemble's as `-log mean_m p_m(y)` by log-mean-exp, without
    clipping; otherwise from the probabilities clipped to `[1e-7, 1]`.

    Raises:
        ValueError / TypeError: naming the argument, for `probs` that are not
            finite probabilities `(N, M, K)` with N >= 1, `labels` that are
            not N class indices, `log_probs` of another shape or with NaN or
            +inf, or a `num_bins` that is not an int >= 1.
    """
    num_bins = check_positive_int(num_bins, "num_bins")
    probs = check_member_array(probs, "probs")
    if probs.ndim != 3:
        raise ValueError(f"`probs` must be member probabilities (N, M, K). Received: shape {probs.shape}")
    if probs.min() < 0.0 or probs.max() > 1.0 + 1e-6:
        raise ValueError(
            f"`probs` must hold probabilities in [0, 1]. Received: values in [{probs.min()}, {probs.max()}]"
        )
    labels = check_class_labels(labels, len(probs), probs.shape[-1], "labels")
    if log_probs is not None:
        log_probs = check_real_array(log_probs, "log_probs", finite=False)
        if log_probs.shape != probs.shape or np.isnan(log_probs).any() or (log_probs == np.inf).any():
            raise ValueError(
                f"`log_probs` must be log-probabilities of the shape of `probs` {probs.shape}, without NaN "
                f"or +inf. Received: shape {log_probs.shape}"
            )
    mean = probs.mean(1)
    confidence, correct = mean.max(-1), mean.argmax(-1) == labels
    members = range(probs.shape[1])
    member_accuracy = [float(np.mean(probs[:, m].argmax(-1) == labels)) for m in members]
    if log_probs is None:
        nll = _metric(NegativeLogLikelihood(), labels, mean)
        member_nll = [_metric(NegativeLogLikelihood(), labels, probs[:, m]) for m in members]
    else:
        nll, member_nll = _log_space_nll(log_probs, labels)
    return {
        "num_examples": int(len(labels)),
        "ensemble_size": int(probs.shape[1]),
        "accuracy": float(np.mean(correct)),
        "nll": nll,
        "ece": _metric(ExpectedCalibrationError(num_bins), labels, mean),
        "adaptive_ece": adaptive_calibration_error(mean, labels, min(num_bins, len(labels))),
        "aurc": aurc(confidence, correct),
        "augrc": augrc(confidence, correct),
        "brier": _metric(BrierScore(), labels, mean),
        "predictive_entropy": float(to_numpy(entropy(mean)).mean()),
        "member_accuracy": member_accuracy,
        "member_nll": member_nll,
        "mean_member_accuracy": float(np.mean(member_accuracy)),
        "mean_member_nll": float(np.mean(member_nll)),
        "disagreement": diversity.disagreement(probs),
        "average_kl": diversity.average_kl(probs),
        "cosine_similarity": diversity.cosine_similarity(probs),
        "mutual_information": float(to_numpy(mutual_information(probs)).mean()),
        "reliability": reliability_bins(mean, labels, num_bins),
    }


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
        y: integer labels `(N,)` in `[0, K)` (or one-hot `(N, K)`); other
            labels raise a `ValueError`.
        ood_x: optional out-of-distribution inputs for OOD detection.
        batch_size: prediction batch size.
        num_bins: ECE bins.
        from_logits: whether the models output logits (`None`: a MIMOModel's
            head decides, other models output probabilities).
        verbose: Keras's prediction progress bar setting.

    Returns:
        A JSON-serialisable dict. Ensemble: `accuracy`, `nll` (of the mean
        probability; for logits models computed in log space as the
        log-mean-exp of the members' log-probabilities), `ece`,
        `adaptive_ece` (equal-mass bins), `brier`, `predictive_entropy`
        (mean entropy of the mean probability); selective prediction with
        the max mean probability as confidence: `aurc`, `augrc`. Members: `member_accuracy`, `member_nll`
        (lists) and their means. Diversity over member pairs:
        `disagreement`, `average_kl`, `cosine_similarity` (`None` for one
        member), and `mutual_information` (mean over examples). With
        `ood_x`: `ood` = {score: {auroc, aupr_in, aupr_out, fpr95}} for
        the scores `one_minus_max_prob` (1 - max mean probability),
        `entropy` and `mutual_information` (higher = more OOD), OOD as the
        positive class except in `aupr_in` (see `ood_scores`). `reliability`:
        per-bin count, accuracy and confidence of the mean probability.
    """
    num_bins = check_positive_int(num_bins, "num_bins")
    batch_size = check_positive_int(batch_size, "batch_size")
    check_inputs(x, "x")
    if ood_x is not None:
        check_inputs(ood_x, "ood_x")
    ensemble = EnsembleReader(model, from_logits, argument="model").require_classifier(
        "keras_mimo.evaluate_regression", single_output=False
    )
    probs, log_probs = ensemble.member_probabilities(x, batch_size, verbose)
    labels = check_labels(y, len(probs), probs.shape[-1])
    results = scores_from_probabilities(probs, labels, num_bins, log_probs)
    if ood_x is not None:
        out_probs, _ = ensemble.member_probabilities(ood_x, batch_size, verbose)
        results["ood"] = ood_scores(probs, out_probs)
    return results
