"""Member predictions `(N, M, ...)` from a MIMOModel, a deep ensemble or one model."""

from collections.abc import Sequence

import keras
import numpy as np

from keras_mimo.ensembling import logits_method
from keras_mimo.ensembling import to_log_probabilities
from keras_mimo.ensembling import to_probabilities
from keras_mimo.model import MIMOModel

__all__ = [
    "as_model_list", "check_probabilities", "log_mean_exp", "member_outputs", "member_predictions", "member_probabilities",
    "output_form",
]


def output_form(model, from_logits, units: int) -> str:
    """How to read `model`'s outputs (a `keras_mimo.ensembling` method).

    A MIMOModel's head decides, unless `from_logits` says otherwise; a model
    from `with_temperature` keeps the form of the model it wraps; any other
    model outputs probabilities unless `from_logits=True`.
    """
    if isinstance(model, MIMOModel):
        if from_logits is None or bool(from_logits) == (model.ensemble_method != "mean"):
            return model.ensemble_method
        # An explicit flag overrides the head's method.
        return logits_method(units) if from_logits else "mean"
    if from_logits is None:
        scaling = _temperature_layer(model)
        if scaling is not None:
            return scaling.ensemble_method
    if from_logits:
        return logits_method(units)
    return "mean"


def _temperature_layer(model):
    """The `TemperatureScaling` layer that makes `model`'s output, if any."""
    from keras_mimo.calibration import TemperatureScaling  # calibration imports this module

    layers = getattr(model, "layers", None)
    if layers and isinstance(layers[-1], TemperatureScaling) and len(model.outputs) == 1:
        return layers[-1]
    return None


def check_probabilities(probs, model_name: str):
    """Raises a `ValueError` when outputs read as probabilities are not.

    Rows must be non-negative and sum to 1 (a one-unit output lies in [0, 1]);
    otherwise the model likely outputs logits.
    """
    probs = np.asarray(probs)
    bad = (probs < -1e-6).any(-1) | (np.abs(probs.sum(-1) - 1.0) > 1e-2)  # float16 outputs round to ~1e-3
    if bad.any():
        raise ValueError(
            f"Model {model_name!r}'s outputs are read as probabilities, but {int(bad.sum())} rows "
            "are negative or do not sum to 1: if the model outputs logits, pass from_logits=True."
        )


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


def log_mean_exp(values, axis: int):
    """`log(mean(exp(values), axis))` in float64 without overflow (numpy)."""
    values = np.asarray(values, np.float64)
    top = values.max(axis, keepdims=True)
    return np.squeeze(top, axis) + np.log(np.mean(np.exp(values - top), axis=axis))


def member_outputs(model_or_models, x, batch_size: int = 128, verbose="auto", what: str = "classifier"):
    """`(model, outputs (N, M_model, ...))` for each model of an ensemble.

    A MIMOModel gives its members in one forward pass per batch
    (`predict_members`); any other model is one member (`predict`). Every
    model must have a single output (`what` names its kind in the error).
    """
    for model in as_model_list(model_or_models):
        if len(model.outputs) != 1:
            raise ValueError(
                f"Ensemble evaluation scores one {what} output, but model "
                f"{model.name!r} has {len(model.outputs)} outputs. Evaluate each "
                f"{what} output through its own model, e.g. "
                "`keras.Model(model.inputs, model.outputs[i])` for a plain model, "
                "or `model.predict_members(x)[name]` with "
                "`keras_mimo.evaluation.scores_from_probabilities`."
            )
        if isinstance(model, MIMOModel):
            yield model, model.predict_members(x, batch_size=batch_size, verbose=verbose)
        else:
            yield model, model.predict(x, batch_size=batch_size, verbose=verbose)[:, None]


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
    probs, log_probs = [], []
    for model, out in member_outputs(model_or_models, x, batch_size, verbose):
        method = output_form(model, from_logits, out.shape[-1])
        member_probs = keras.ops.convert_to_numpy(to_probabilities(out, method)).astype(np.float64)
        if method == "mean":
            check_probabilities(member_probs, model.name)
        probs.append(member_probs)
        if method != "mean":
            log_p = to_log_probabilities(out, method, keras.config.epsilon())
            log_probs.append(keras.ops.convert_to_numpy(log_p).astype(np.float64))
    all_logits = len(log_probs) == len(probs)
    return np.concatenate(probs, axis=1), np.concatenate(log_probs, axis=1) if all_logits else None


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
    return member_predictions(model_or_models, x, batch_size, from_logits, verbose)[0]
