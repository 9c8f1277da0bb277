"""Labels and predictions in the one form every metric works on."""

from keras import ops


def class_probabilities(y_pred, from_logits: bool):
    """Predictions `(N, K)` (or `(N, 1)` binary) to float32 probabilities `(N, K')`.

    A one-unit prediction is a binary classifier: it becomes `[1 - p, p]`.
    """
    y_pred = ops.cast(y_pred, "float32")
    if y_pred.shape[-1] == 1:
        p = ops.sigmoid(y_pred) if from_logits else y_pred
        return ops.concatenate([1.0 - p, p], axis=-1)
    return ops.softmax(y_pred, axis=-1) if from_logits else y_pred


def class_log_probabilities(y_pred, from_logits: bool, epsilon: float):
    """Log-probabilities `(N, K')`; probabilities are clipped to `[epsilon, 1]`."""
    y_pred = ops.cast(y_pred, "float32")
    if from_logits:
        if y_pred.shape[-1] == 1:
            return ops.concatenate(
                [ops.log_sigmoid(-y_pred), ops.log_sigmoid(y_pred)], axis=-1
            )
        return ops.log_softmax(y_pred, axis=-1)
    return ops.log(ops.clip(class_probabilities(y_pred, False), epsilon, 1.0))


def integer_labels(y_true, num_classes: int):
    """Integer labels `(N,)` from `(N,)`, `(N, 1)` or one-hot `(N, K)` labels."""
    if len(y_true.shape) >= 2 and y_true.shape[-1] == num_classes and num_classes > 1:
        return ops.cast(ops.argmax(y_true, axis=-1), "int32")
    return ops.cast(ops.reshape(y_true, (-1,)), "int32")


def flat_weights(sample_weight, num_rows):
    """Sample weights `(N,)` float32; ones when `sample_weight` is None."""
    if sample_weight is None:
        return ops.ones((num_rows,), "float32")
    weights = ops.cast(ops.reshape(sample_weight, (-1,)), "float32")
    return ops.broadcast_to(weights, (num_rows,))
