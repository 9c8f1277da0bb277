"""`NegativeLogLikelihood` and `BrierScore`: streaming proper scoring rules."""

import keras
from keras import ops

from keras_mimo._serialization import register
from keras_mimo.metrics._inputs import class_log_probabilities
from keras_mimo.metrics._inputs import class_probabilities
from keras_mimo.metrics._inputs import flat_weights
from keras_mimo.metrics._inputs import integer_labels


class _WeightedMean(keras.metrics.Metric):
    """Weighted mean of a per-example score; subclasses define `score`."""

    def __init__(self, from_logits: bool = False, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.from_logits = bool(from_logits)
        self.total = self.add_variable((), "zeros", name="total")
        self.weight = self.add_variable((), "zeros", name="weight")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
        scores = self.score(y_true, y_pred)
        weights = flat_weights(sample_weight, ops.shape(scores)[0])
        self.total.assign_add(ops.sum(scores * weights))
        self.weight.assign_add(ops.sum(weights))

    def result(self):
        return self.total / ops.maximum(self.weight, 1e-12)

    def reset_state(self):
        self.total.assign(0.0)
        self.weight.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}


@register
class NegativeLogLikelihood(_WeightedMean):
    """Mean negative log-likelihood of the true class, `-log p(y | x)`.

    Probabilities are clipped to `[epsilon, 1]` (`keras.config.epsilon()`,
    as in Keras's cross-entropy losses); logits use a stable log-softmax. For
    an ensemble, pass the ensemble's (mean) probability: this is the ensemble
    NLL of the MIMO paper.

    Args:
        from_logits: bool, whether `y_pred` holds logits.
        name, dtype: as in `keras.metrics.Metric`.

    Inputs:
        `y_true`: integer labels `(N,)` / `(N, 1)` or one-hot `(N, K)`.
        `y_pred`: `(N, K)` probabilities or logits, or `(N, 1)` binary.
    """

    def __init__(self, from_logits: bool = False, name="nll", dtype=None):
        super().__init__(from_logits=from_logits, name=name, dtype=dtype)

    def score(self, y_true, y_pred):
        log_probs = class_log_probabilities(
            y_pred, self.from_logits, keras.config.epsilon()
        )
        labels = integer_labels(y_true, y_pred.shape[-1])
        onehot = ops.one_hot(labels, log_probs.shape[-1], dtype="float32")
        return -ops.sum(onehot * log_probs, axis=-1)


@register
class BrierScore(_WeightedMean):
    """Mean Brier score, `sum_k (p_k - 1[y = k])^2`, summed over classes.

    Ranges over [0, 2]. (`tfp.stats.brier_score` omits the constant 1:
    it returns `sum_k p_k^2 - 2 p_y`.)

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
        super().__init__(from_logits=from_logits, name=name, dtype=dtype)

    def score(self, y_true, y_pred):
        probs = class_probabilities(y_pred, self.from_logits)
        labels = integer_labels(y_true, y_pred.shape[-1])
        onehot = ops.one_hot(labels, probs.shape[-1], dtype="float32")
        return ops.sum(ops.square(probs - onehot), axis=-1)
