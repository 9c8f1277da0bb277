"""`NegativeLogLikelihood` and `BrierScore`: streaming proper scoring rules."""

import keras
from keras import ops

from keras_mimo._serialization import register
from keras_mimo.ensembling import logits_method
from keras_mimo.ensembling import to_log_probabilities
from keras_mimo.ensembling import to_probabilities
from keras_mimo.metrics._inputs import integer_labels
from keras_mimo.metrics._inputs import poison_invalid


def _method(y_pred, from_logits: bool) -> str:
    return logits_method(y_pred.shape[-1]) if from_logits else "mean"


def _one_hot_labels(y_true, num_outputs, num_classes):
    labels = integer_labels(ops.convert_to_tensor(y_true), num_outputs if num_outputs > 1 else 2)
    return labels, ops.one_hot(ops.clip(labels, 0, num_classes - 1), num_classes, dtype="float32")


def negative_log_likelihood(y_true, y_pred, from_logits: bool = False):
    """Per-example `-log p(y | x)`, `(N,)`.

    Args:
        y_true: integer labels `(N,)` / `(N, 1)` or one-hot `(N, K)`.
        y_pred: `(N, K)` probabilities or logits, or `(N, 1)` binary.
        from_logits: whether `y_pred` holds logits.
    """
    y_pred = ops.convert_to_tensor(y_pred)
    log_probs = to_log_probabilities(y_pred, _method(y_pred, from_logits), keras.config.epsilon())
    labels, onehot = _one_hot_labels(y_true, y_pred.shape[-1], log_probs.shape[-1])
    return poison_invalid(-ops.sum(onehot * log_probs, axis=-1), labels, log_probs.shape[-1])


def brier_score(y_true, y_pred, from_logits: bool = False):
    """Per-example Brier score `sum_k (p_k - 1[y = k])^2`, `(N,)`; inputs as above."""
    y_pred = ops.convert_to_tensor(y_pred)
    probs = to_probabilities(y_pred, _method(y_pred, from_logits))
    labels, onehot = _one_hot_labels(y_true, y_pred.shape[-1], probs.shape[-1])
    return poison_invalid(ops.sum(ops.square(probs - onehot), axis=-1), labels, probs.shape[-1])


class _ScoreMean(keras.metrics.MeanMetricWrapper):
    """Weighted mean of a per-example score with a `from_logits` argument."""

    def __init__(self, fn, from_logits: bool, name, dtype):
        super().__init__(fn, name=name, dtype=dtype, from_logits=bool(from_logits))
        self.from_logits = bool(from_logits)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "from_logits": self.from_logits}


@register
class NegativeLogLikelihood(_ScoreMean):
    """Mean negative log-likelihood of the true class, `-log p(y | x)`.

    Probabilities are clipped to `[epsilon, 1]` (`keras.config.epsilon()`,
    as in Keras's cross-entropy losses); logits use a stable log-softmax. For
    an ensemble, pass the ensemble's (mean) probability: this is the ensemble
    NLL of the MIMO paper. Labels outside `[0, K)` raise a `ValueError`
    (eager) or make the result NaN (inside a compiled step).

    Args:
        from_logits: bool, whether `y_pred` holds logits.
        name, dtype: as in `keras.metrics.Metric`.

    Inputs:
        `y_true`: integer labels `(N,)` / `(N, 1)` or one-hot `(N, K)`.
        `y_pred`: `(N, K)` probabilities or logits, or `(N, 1)` binary.
    """

    def __init__(self, from_logits: bool = False, name="nll", dtype=None):
        super().__init__(negative_log_likelihood, from_logits, name, dtype)


@register
class BrierScore(_ScoreMean):
    """Mean Brier score, `sum_k (p_k - 1[y = k])^2`, summed over classes.

    Ranges over [0, 2]. (`tfp.stats.brier_score` omits the constant 1:
    it returns `sum_k p_k^2 - 2 p_y`.) Labels as in `NegativeLogLikelihood`.

    Args:
        from_logits: bool, whether `y_pred` holds logits.
        name, dtype: as in `keras.metrics.Metric`.

    Inputs:
        `y_true`: integer labels `(N,)` / `(N, 1)` or one-hot `(N, K)`.
        `y_pred`: `(N, K)` probabilities or logits, or `(N, 1)` binary.

    References:
        Brier, "Verification of forecasts expressed in terms of
        probability", Monthly Weather Review, 1950.
    """

    def __init__(self, from_logits: bool = False, name="brier", dtype=None):
        super().__init__(brier_score, from_logits, name, dtype)
