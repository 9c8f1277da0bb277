"""Member probabilities `(N, M, K)` from a MIMOModel, a deep ensemble or one model."""

from collections.abc import Sequence

import keras
import numpy as np

from keras_mimo.model import MIMOModel


def _softmax(z):
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def _to_probabilities(outputs, kind: str):
    """`outputs` (N, M, K) of the given kind to probabilities (N, M, K')."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if kind == "softmax_logits":
        return _softmax(outputs)
    if kind == "sigmoid_logits":
        outputs = 1.0 / (1.0 + np.exp(-outputs))
    if outputs.shape[-1] == 1:
        return np.concatenate([1.0 - outputs, outputs], axis=-1)
    return outputs


def _kind(model, from_logits):
    if isinstance(model, MIMOModel):
        method = model._mimo_head.ensemble_method
        if from_logits is None:
            return method
        # A MIMO head's method is authoritative, but honour an explicit flag.
        if from_logits:
            return "sigmoid_logits" if method == "sigmoid_logits" else "softmax_logits"
        return "mean"
    if from_logits:
        return "softmax_logits"
    return "mean"


def as_model_list(model_or_models):
    """`[model]`, or the deep ensemble's models; validates the argument."""
    if isinstance(model_or_models, keras.Model):
        return [model_or_models]
    if isinstance(model_or_models, Sequence) and model_or_models and all(
        isinstance(m, keras.Model) for m in model_or_models
    ):
        return list(model_or_models)
    raise TypeError(
        "Expected a keras.Model (a MIMOModel or a single model) or a non-empty "
        f"list of keras.Model (a deep ensemble). Received: {model_or_models!r}"
    )


def member_probabilities(
    model_or_models, x, batch_size: int = 128, from_logits: bool | None = None, verbose="auto"
) -> np.ndarray:
    """Member probabilities of a MIMOModel, a deep ensemble or a single model.

    A MIMOModel runs one forward pass per batch (`predict_members`); a deep
    ensemble runs one per member model; a single model is a one-member
    ensemble.

    Args:
        model_or_models: a `MIMOModel`, a `keras.Model`, or a list of them.
        x: inputs `(N, ...)` as `predict` accepts them.
        batch_size: prediction batch size.
        from_logits: whether outputs are logits. `None`: a MIMOModel's head
            says so (`ensemble_method`); other models output probabilities.
        verbose: Keras's prediction progress bar setting.

    Returns:
        float64 array `(N, M, K)` of probabilities (`K = 2` for binary
        one-unit outputs).
    """
    outputs = []
    for model in as_model_list(model_or_models):
        if isinstance(model, MIMOModel):
            out = model.predict_members(x, batch_size=batch_size, verbose=verbose)
        else:
            out = model.predict(x, batch_size=batch_size, verbose=verbose)[:, None]
        outputs.append(_to_probabilities(out, _kind(model, from_logits)))
    return np.concatenate(outputs, axis=1)
