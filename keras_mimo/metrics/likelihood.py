"""`NegativeLogLikelihood` and `BrierScore`: streaming proper scoring rules."""

import keras
from keras import ops

from keras_mimo._serialization import register
from keras_mimo.ensembles.methods import logits_method
from keras_mimo.ensembles.methods import to_log_probabilities
from keras_mimo.ensembles.methods import to_probabilities
from keras_mimo.metrics._inputs import check_finite_values
from keras_mimo.metrics._inputs import check_weights
from keras_mimo.metrics._inputs import class_labels
from keras_mimo.metrics._inputs import poison_invalid


def _method(y_pred, from_logits: bool) -> str:
    return logits_method(y_pred.shape[-1]) if from_logits else "mean"


def _predictions(y_pred):
    """`y_pred` as a tensor `(..., K)`, its eager values checked (NaN or inf raise naming `y_pred`)."""
    check_finite_values(y_pred, "y_pred")
    y_pred = ops.convert_to_tensor(y_pred)
    if len(y_pred.shape) < 2:
        raise ValueError(
            f"`y_pred` must be class probabilities or logits (N, K) (or (N, T, K)). Received shape {y_pred.shape}."
        )
    return y_pred


def _one_hot_labels(y_true, y_pred, num_classes):
    labels = class_labels(y_true, y_pred)
    return labels, ops.one_hot(ops.clip(labels, 0, num_classes - 1), num_classes, dtype="float32")


def negative_log_likelihood(y_true, y_pred, from_logits: bool = False):
    """Per-example `-log p(y | x)`, `(N,)` (`(N, T)` for sequence predictions).

    Args:
        y_true: integer labels `(N,)` / `(N, 1)` or one-hot `(N, K)`
            (`(N, T)` or `(N, T, K)` for sequences).
        y_pred: `(N, K)` probabilities or logits, or `(N, 1)` binary; or
            `(N, T, K)`, one distribution per sequence position.
        from_logits: whether `y_pred` holds logits.

    Eager inputs with NaN or inf, labels that are not class indices, or one
    label too few or many raise a `ValueError` naming the argument.
    """
    y_pred = _predictions(y_pred)
    log_probs = to_log_probabilities(y_pred, _method(y_pred, from_logits), keras.config.epsilon())
    labels, onehot = _one_hot_labels(y_true, y_pred, log_probs.shape[-1])
    return poison_invalid(-ops.sum(onehot * log_probs, axis=-1), labels, log_probs.shape[-1])


def brier_score(y_true, y_pred, from_logits: bool = False):
    """Per-example Brier score `sum_k (p_k - 1[y = k])^2`, `(N,)` (`(N, T)` for sequences); inputs as above."""
    y_pred = _predictions(y_pred)
    probs = to_probabilities(y_pred, _method(y_pred, from_logits))
    labels, onehot = _one_hot_labels(y_true, y_pred, probs.shape[-1])
    return poison_invalid(ops.sum(ops.square(probs - onehot), axis=-1), labels, probs.shape[-1])


class _ScoreMean(keras.metrics.MeanMetricWrapper):
    """Weighted mean of a per-example score with a `from_logits` argument."""

    def __init__(self, fn, from_logits: bool, name, dtype):
        super().__init__(fn, name=name, dtype=dtype, from_logits=bool(from_logits))
        self.from_logits = bool(from_logits)

    def update_state(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            check_weights(sample_weight)
        return super().update_state(y_true, y_pred, sample_weight=sample_weight)

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
