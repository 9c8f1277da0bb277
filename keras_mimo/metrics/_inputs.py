"""Labels and weights in the one form every metric works on."""

import keras
from keras import ops

from keras_mimo._validation import check_label_range


def _is_concrete(tensor) -> bool:
    """Whether `tensor` holds values now (eager), not a traced placeholder."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.executing_eagerly()
    if backend == "jax":
        import jax

        return not isinstance(tensor, jax.core.Tracer)
    return True  # torch and numpy run eagerly


def integer_labels(y_true, num_classes: int):
    """Integer labels `(N,)` from `(N,)`, `(N, 1)` or one-hot `(N, K)` labels.

    Eager labels outside `[0, num_classes)` raise a `ValueError`; traced
    steps (compiled `fit`/`evaluate`) cannot raise, so use `invalid_rows`.
    """
    if len(y_true.shape) >= 2 and y_true.shape[-1] == num_classes and num_classes > 1:
        return ops.cast(ops.argmax(y_true, axis=-1), "int32")
    labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
    if _is_concrete(labels):
        check_label_range(ops.convert_to_numpy(labels), num_classes)
    return labels


def poison_invalid(values, labels, num_classes: int):
    """`values` `(N,)` with NaN where a label lies outside `[0, num_classes)`.

    In a traced step an out-of-range label cannot raise; a NaN result makes
    it visible instead of silently lowering the score.
    """
    valid = ops.logical_and(labels >= 0, labels < num_classes)
    return ops.where(valid, values, ops.full_like(values, float("nan")))


def flat_weights(sample_weight, num_rows):
    """Sample weights `(N,)` float32; ones when `sample_weight` is None."""
    if sample_weight is None:
        return ops.ones((num_rows,), "float32")
    weights = ops.cast(ops.reshape(sample_weight, (-1,)), "float32")
    return ops.broadcast_to(weights, (num_rows,))
