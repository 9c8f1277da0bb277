"""Member probabilities `(N, M, K)` from a MIMOModel, a deep ensemble or one model."""

from collections.abc import Sequence

import keras
import numpy as np

from keras_mimo import _members
from keras_mimo._validation import check_inputs
from keras_mimo._validation import check_positive_int

__all__ = ["member_predictions", "member_probabilities"]


def model_list(model_or_models, caller: str, what: str = "classifier") -> list:
    """The models of `model_or_models`: one single-output model or a non-empty list of them, else raises naming it."""
    single = isinstance(model_or_models, keras.Model)
    if not single and not (
        isinstance(model_or_models, Sequence)
        and model_or_models
        and all(isinstance(m, keras.Model) for m in model_or_models)
    ):
        raise TypeError(
            f"{caller}: `model_or_models` must be a keras.Model (a MIMOModel or a single model) or a non-empty "
            f"list of keras.Model (a deep ensemble). Received: {model_or_models!r:.80}"
        )
    models = [model_or_models] if single else list(model_or_models)
    for model in models:
        if len(model.outputs) != 1:
            raise ValueError(
                f"{caller} reads one {what} output, but `model_or_models` holds model {model.name!r} with "
                f"{len(model.outputs)} outputs. Use each output through its own model, e.g. "
                "`keras.Model(model.inputs, model.outputs[i])`, or `model.predict_members(x)[i]`."
            )
    return _members.as_model_list(models, caller)


def member_predictions(
    model_or_models, x, batch_size: int = 128, from_logits: bool | None = None, verbose="auto"
) -> tuple:
    """Member probabilities and, for logits models, log-probabilities.

    Args: as `member_probabilities`.

    Returns:
        `(probs, log_probs)`: float64 arrays `(N, M, K)`; `log_probs` is
        computed from the logits (log-softmax, log-sigmoid) when every model
        outputs logits, else None.
    """
    models = model_list(model_or_models, "member_predictions")
    batch_size = check_positive_int(batch_size, "batch_size")
    check_inputs(x, "x", "member_predictions")
    return _members.member_predictions(models, x, batch_size, from_logits, verbose, "member_predictions")


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

    Raises:
        ValueError / TypeError: naming the argument, for numpy `x` that is
            empty or holds NaN or inf, a `batch_size` that is not an int >= 1,
            or a `model_or_models` that is not a single-output classifier or
            a list of them.
    """
    models = model_list(model_or_models, "member_probabilities")
    batch_size = check_positive_int(batch_size, "batch_size")
    check_inputs(x, "x", "member_probabilities")
    return _members.member_predictions(models, x, batch_size, from_logits, verbose, "member_probabilities")[0]
