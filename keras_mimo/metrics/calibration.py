"""Calibration error: streaming ECE over equal-width bins, adaptive ECE over equal-mass bins."""

import keras
import numpy as np
from keras import ops

from keras_mimo._serialization import register
from keras_mimo._validation import check_class_labels
from keras_mimo._validation import check_positive_int
from keras_mimo._validation import check_real_array
from keras_mimo.ensembles.methods import logits_method
from keras_mimo.ensembles.methods import to_probabilities
from keras_mimo.metrics._inputs import check_finite_values
from keras_mimo.metrics._inputs import class_labels
from keras_mimo.metrics._inputs import poison_invalid
from keras_mimo.metrics._inputs import position_weights


def confidence_bins(confidence, num_bins: int):
    """Bin index `floor(confidence * num_bins)` of each confidence, 1.0 in the last bin."""
    bins = ops.cast(ops.floor(ops.cast(confidence, "float32") * num_bins), "int32")
    return ops.clip(bins, 0, num_bins - 1)


@register
class ExpectedCalibrationError(keras.metrics.Metric):
    """Expected calibration error (ECE) of a classifier's top prediction.

    Confidences (the top class's probability) are sorted into `num_bins`
    equal-width bins on [0, 1]; bin `b` holds `floor(confidence * num_bins)`
    (1.0 goes to the last bin). The ECE is
    `sum_b (W_b / W) * |accuracy_b - mean confidence_b|`, with `W_b` the
    summed sample weight in bin `b`. The per-bin sums are the metric's state,
    so the result over many batches equals the ECE of the whole set.

    Args:
        num_bins: int, number of bins (15 in the MIMO paper).
        from_logits: bool, whether `y_pred` holds logits (softmax, or sigmoid
            for a one-unit binary prediction) instead of probabilities.
        name, dtype: as in `keras.metrics.Metric`.

    Inputs:
        `y_true`: integer labels `(N,)` / `(N, 1)` or one-hot `(N, K)`.
        `y_pred`: `(N, K)` probabilities or logits, or `(N, 1)` binary. Sequence
            predictions `(N, T, K)` with labels `(N, T)` count every position.

    Eager inputs holding NaN or inf, labels that are not class indices, or a
    label count that does not match raise a `ValueError` naming the argument.

    Example:

    ```python
    ece = keras_mimo.metrics.ExpectedCalibrationError(num_bins=15)
    ece.update_state([0, 1], [[0.9, 0.1], [0.4, 0.6]])
    float(ece.result())  # 0.25
    ```

    References:
        Naeini et al., "Obtaining well calibrated probabilities using Bayesian
        binning", AAAI 2015; Guo et al., "On calibration of modern neural
        networks", ICML 2017.
    """

    def __init__(self, num_bins: int = 15, from_logits: bool = False, name="ece", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.num_bins = check_positive_int(num_bins, "num_bins")
        self.from_logits = bool(from_logits)
        self.bin_weight = self.add_variable((self.num_bins,), "zeros", name="bin_weight")
        self.bin_confidence = self.add_variable((self.num_bins,), "zeros", name="bin_confidence")
        self.bin_correct = self.add_variable((self.num_bins,), "zeros", name="bin_correct")

    def update_state(self, y_true, y_pred, sample_weight=None):
        check_finite_values(y_pred, "y_pred")
        y_pred = ops.convert_to_tensor(y_pred)
        method = logits_method(y_pred.shape[-1]) if self.from_logits else "mean"
        probs = to_probabilities(y_pred, method)
        num_classes = probs.shape[-1]
        labels = class_labels(y_true, y_pred)  # y_pred.shape[:-1]: (N,) or (N, T)
        weights = position_weights(sample_weight, ops.shape(labels))
        # every prediction position is one row: (N, K) or (N * T, K)
        probs, labels, weights = (
            ops.reshape(probs, (-1, num_classes)),
            ops.reshape(labels, (-1,)),
            ops.reshape(weights, (-1,)),
        )
        confidence = ops.max(probs, axis=-1)
        correct = ops.cast(ops.argmax(probs, axis=-1) == labels, "float32")
        correct = poison_invalid(correct, labels, num_classes)
        bins = confidence_bins(confidence, self.num_bins)
        in_bin = ops.one_hot(bins, self.num_bins, dtype="float32") * weights[:, None]
        self.bin_weight.assign_add(ops.sum(in_bin, axis=0))
        self.bin_confidence.assign_add(ops.sum(in_bin * confidence[:, None], axis=0))
        self.bin_correct.assign_add(ops.sum(in_bin * correct[:, None], axis=0))

    def result(self):
        total = ops.maximum(ops.sum(self.bin_weight), 1e-12)
        gap = ops.abs(self.bin_correct - self.bin_confidence)
        return ops.sum(gap) / total

    def reliability(self) -> dict:
        """Per-bin statistics of the data seen so far (a reliability diagram).

        Returns:
            `{"bin_upper_edges", "count", "accuracy", "confidence"}`, lists of
            `num_bins` floats; `count` is the summed sample weight, and empty
            bins have `None` accuracy and confidence.
        """
        weight, confidence, correct = (
            ops.convert_to_numpy(v).astype("float64") for v in (self.bin_weight, self.bin_confidence, self.bin_correct)
        )
        return {
            "bin_upper_edges": [(b + 1) / self.num_bins for b in range(self.num_bins)],
            "count": [float(w) for w in weight],
            "accuracy": [float(c / w) if w else None for c, w in zip(correct, weight)],
            "confidence": [float(c / w) if w else None for c, w in zip(confidence, weight)],
        }

    def reset_state(self):
        for variable in (self.bin_weight, self.bin_confidence, self.bin_correct):
            variable.assign(ops.zeros(variable.shape, variable.dtype))

    def get_config(self):
        return {**super().get_config(), "num_bins": self.num_bins, "from_logits": self.from_logits}


def adaptive_calibration_error(probs, labels, num_bins: int = 15) -> float:
    """ECE over equal-mass bins of the top-label confidence (numpy; lower is better).

    Rows are sorted by their top-class probability (a stable sort) and split
    into `num_bins` nearly equal parts as `np.array_split` splits them; the
    error is `sum_b (n_b / N) * |accuracy_b - mean confidence_b|`. Unlike
    `ExpectedCalibrationError`'s equal-width bins, every bin holds about
    `N / num_bins` rows, so crowded high-confidence regions are resolved.

    Args:
        probs: `(N, K)` class probabilities (or `(N, T, K)` sequence
            predictions: every position is a row).
        labels: `(N,)` integer labels in `[0, K)` (`(N, T)` for sequences).
        num_bins: number of bins (<= the number of rows).

    NaN or infinite `probs`, labels that are not class indices, one label too
    few or many, or no rows raise a `ValueError` naming the argument.

    References:
        Nixon et al., "Measuring calibration in deep learning", CVPR
        Workshops 2019.
    """
    num_bins = check_positive_int(num_bins, "num_bins")
    probs = check_real_array(probs, "probs")
    labels = np.asarray(labels)
    if probs.ndim >= 3 and labels.shape == probs.shape[:-1]:  # sequence predictions: a row per position
        probs, labels = probs.reshape(-1, probs.shape[-1]), labels.reshape(-1)
    if probs.ndim != 2:
        raise ValueError(f"`probs` must be (N, K) class probabilities. Received shape {probs.shape}.")
    if not len(probs):
        raise ValueError("`probs` is empty: the adaptive calibration error needs at least one row.")
    labels = check_class_labels(labels, len(probs), probs.shape[-1], "labels")
    if num_bins > len(labels):
        raise ValueError(f"`num_bins` ({num_bins}) must not exceed the number of rows ({len(labels)}).")
    confidence = probs.max(-1)
    correct = probs.argmax(-1) == labels
    order = np.argsort(confidence, kind="stable")
    error = 0.0
    for rows in np.array_split(order, num_bins):
        error += len(rows) * abs(correct[rows].mean() - confidence[rows].mean())
    return float(error / len(labels))
