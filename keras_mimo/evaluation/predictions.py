"""Member probabilities `(N, M, K)` from a MIMOModel, a deep ensemble or one model."""

import numpy as np

from keras_mimo._validation import check_inputs
from keras_mimo._validation import check_positive_int
from keras_mimo.ensembles.reading import EnsembleReader

__all__ = ["member_predictions", "member_probabilities"]


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
    ensemble = EnsembleReader(model_or_models, from_logits, argument="model_or_models").require_single_output()
    batch_size = check_positive_int(batch_size, "batch_size")
    check_inputs(x, "x")
    return ensemble.member_probabilities(x, batch_size, verbose)


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
    return member_predictions(model_or_models, x, batch_size, from_logits, verbose)[0]
