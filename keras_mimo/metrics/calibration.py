"""`ExpectedCalibrationError`: streaming ECE over equal-width confidence bins."""

import keras
from keras import ops

from keras_mimo._serialization import register
from keras_mimo._validation import check_positive_int
from keras_mimo.metrics._inputs import class_probabilities
from keras_mimo.metrics._inputs import flat_weights
from keras_mimo.metrics._inputs import integer_labels


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
        `y_pred`: `(N, K)` probabilities or logits, or `(N, 1)` binary.

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
        self.bin_confidence = self.add_variable(
            (self.num_bins,), "zeros", name="bin_confidence"
        )
        self.bin_correct = self.add_variable((self.num_bins,), "zeros", name="bin_correct")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
        probs = class_probabilities(y_pred, self.from_logits)
        labels = integer_labels(y_true, y_pred.shape[-1])
        confidence = ops.max(probs, axis=-1)
        correct = ops.cast(ops.argmax(probs, axis=-1) == labels, "float32")
        weights = flat_weights(sample_weight, ops.shape(probs)[0])
        bins = ops.clip(
            ops.cast(ops.floor(confidence * self.num_bins), "int32"), 0, self.num_bins - 1
        )
        in_bin = ops.one_hot(bins, self.num_bins, dtype="float32") * weights[:, None]
        self.bin_weight.assign_add(ops.sum(in_bin, axis=0))
        self.bin_confidence.assign_add(ops.sum(in_bin * confidence[:, None], axis=0))
        self.bin_correct.assign_add(ops.sum(in_bin * correct[:, None], axis=0))

    def result(self):
        total = ops.maximum(ops.sum(self.bin_weight), 1e-12)
        gap = ops.abs(self.bin_correct - self.bin_confidence)
        return ops.sum(gap) / total

    def reset_state(self):
        for variable in (self.bin_weight, self.bin_confidence, self.bin_correct):
            variable.assign(ops.zeros(variable.shape, variable.dtype))

    def get_config(self):
        return {**super().get_config(), "num_bins": self.num_bins, "from_logits": self.from_logits}
