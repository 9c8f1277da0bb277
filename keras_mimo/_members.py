"""The one reader of ensembles: what a model is, how its outputs read, its members.

Every post-hoc and evaluation function (`keras_mimo.calibration`,
`keras_mimo.conformal`, `keras_mimo.with_uncertainty`,
`keras_mimo.evaluation`) takes "a model" in one of these kinds and reads it
here, nowhere else:

- a `MIMOModel`: its members in one forward pass; its heads' `ensemble_method`
  says how the outputs read;
- a plain `keras.Model`: one member; probabilities unless `from_logits=True`;
- a model from `with_temperature`: one member, in the form of the model it
  wraps (read from its `TemperatureScaling` layer);
- a list of models (a deep ensemble): their members concatenated in order.

Output forms are `keras_mimo.ensembling` methods: `"mean"` (probabilities),
`"softmax_logits"`, `"sigmoid_logits"`, `"gaussian"` (`[means, stds]`).

Two ways to produce member outputs `(N, M, ...)`: `member_outputs` (numpy,
through Keras's `predict`) and the `Ensemble` layer (symbolic, for the
wrappers' functional models).

Each `fit_<noun>` / `with_<noun>` pair checks its `model` with one function
here, `classifier_models` or `gaussian_models`, at the call: the pair accepts
and refuses the same models with the same message.

Precision rule (one for the package): the layers this package adds on top of
a model (`Ensemble` here, `TemperatureScaling`, `StdScaling`,
`PredictionSets`, `PredictionIntervals`, `ClassifierUncertainty`,
`GaussianUncertainty`) derive from `Float32Layer` and compute in float32
under any dtype policy (`mixed_bfloat16`, `mixed_float16`), as `MIMOHead`
does: a wrapper predicts what the numpy path computes from `predict`.
"""

import json
from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from keras_mimo import _keras_compat
from keras_mimo import predictive
from keras_mimo._serialization import register
from keras_mimo._validation import check_batch_size
from keras_mimo._validation import check_probabilities
from keras_mimo.ensembling import combine_members
from keras_mimo.ensembling import logits_method
from keras_mimo.ensembling import to_log_probabilities
from keras_mimo.ensembling import to_probabilities
from keras_mimo.model import MIMOModel

_TEMPERATURE_LAYER = "keras_mimo>TemperatureScaling"
_STD_LAYER = "keras_mimo>StdScaling"
_COMBINE = ("members", "probabilities", "gaussian")
_PROBABILITY_ACTIVATIONS = ("softmax", "sigmoid", "log_softmax")


class Float32Layer(keras.layers.Layer):
    """Base of the layers this package adds on top of a model: they compute in float32.

    Under a mixed-precision policy a Keras layer casts its floating inputs
    to the policy's compute dtype (bfloat16 or float16); these layers read
    probabilities, log-probabilities and standard deviations that must keep
    float32 (as `MIMOHead`'s outputs do), so their dtype is always float32:
    a `dtype` argument (e.g. in the config of a file saved under a mixed
    policy) is ignored.
    """

    def __init__(self, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)


# -- what a model is


def as_model_list(model_or_models, caller: str = "keras_mimo") -> list:
    """`[model]`, or the deep ensemble's models; validates the argument."""
    if isinstance(model_or_models, keras.Model):
        return [model_or_models]
    if (
        isinstance(model_or_models, Sequence)
        and model_or_models
        and all(isinstance(m, keras.Model) for m in model_or_models)
    ):
        return list(model_or_models)
    raise TypeError(
        f"{caller}: `model` must be a keras.Model (a MIMOModel or a single model) or a non-empty "
        f"list of keras.Model (a deep ensemble). Received: {model_or_models!r}"
    )


def name(model_or_models) -> str:
    """The name of a wrapper around these models."""
    models = as_model_list(model_or_models)
    return models[0].name if len(models) == 1 else f"deep_ensemble{len(models)}"


def temperature_layer(model):
    """The `TemperatureScaling` layer that makes `model`'s only output, or None."""
    layers = getattr(model, "layers", None)
    if layers and len(model.outputs) == 1:
        if keras.saving.get_registered_name(type(layers[-1])) == _TEMPERATURE_LAYER:
            return layers[-1]
    return None


def output_form(model, from_logits, units: int) -> str:
    """How one output of `model` with `units` columns reads (a `keras_mimo.ensembling` method).

    A MIMOModel's head decides, unless `from_logits` says otherwise; a model
    from `with_temperature` keeps the form of the model it wraps; any other
    model outputs probabilities unless `from_logits=True`.
    """
    if isinstance(model, MIMOModel):
        if from_logits is None or bool(from_logits) == (model.ensemble_method != "mean"):
            return model.ensemble_method
        return logits_method(units) if from_logits else "mean"  # an explicit flag overrides
    if from_logits is None:
        scaling = temperature_layer(model)
        if scaling is not None:
            return scaling.ensemble_method
    return logits_method(units) if from_logits else "mean"


def forms(models, from_logits=None) -> list:
    """Per model, the form of each output in the outputs' structure."""
    result = []
    for m in models:
        if isinstance(m, MIMOModel):
            result.append(m.ensemble_method)
        else:
            result.append(keras.tree.map_structure(lambda t: output_form(m, from_logits, t.shape[-1]), m.output))
    return result


def heads(model) -> list:
    """Per flat output of `model`: `(description, activation name or None)`, for messages."""
    if isinstance(model, MIMOModel):
        return [(f"MIMOHead {h.name!r}", keras.activations.serialize(h.activation)) for h in model.heads]
    return [(f"output {t.name!r}", None) for t in keras.tree.flatten(model.outputs)]


def _output_layer(model):
    """The layer that makes `model`'s only output, or None."""
    outputs = getattr(model, "outputs", None) or []
    return _keras_compat.producing_layer_or_none(outputs[0]) if len(outputs) == 1 else None


def kind(model):
    """`(kind, why)`: `"classifier"`, `"gaussian"` or None (a plain model whose output does not say).

    A MIMOModel's head says (`ensemble_method`); a wrapper says by its last
    layer (`TemperatureScaling`: a classifier, `StdScaling`: Gaussian); a
    plain model says by its output layer's activation (softmax, sigmoid,
    log-softmax: a classifier).
    """
    if isinstance(model, MIMOModel):
        method = model.ensemble_method
        if not isinstance(method, str):
            return None, None
        return ("gaussian" if method == "gaussian" else "classifier"), f"ensemble_method={method!r}"
    layers = getattr(model, "layers", None) or []
    last = keras.saving.get_registered_name(type(layers[-1])) if layers else None
    if last == _TEMPERATURE_LAYER:
        return "classifier", "a with_temperature model"
    if last == _STD_LAYER:
        return "gaussian", "a with_std_scale model"
    layer = _output_layer(model)
    if isinstance(layer, keras.layers.Softmax):
        return "classifier", f"output layer {layer.name!r} is a Softmax"
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", None)
    if name in _PROBABILITY_ACTIVATIONS:
        return "classifier", f"output layer {layer.name!r} has activation={name!r}"
    return None, None


def check_classifier(models, caller: str, alternative: str):
    """Raises naming `caller` and `alternative` when a model predicts Gaussians (a regression head)."""
    for m in models:
        model_kind, why = kind(m)
        if model_kind == "gaussian":
            raise ValueError(
                f"{caller} needs a classifier; `model` {m.name!r} has a Gaussian (regression) head "
                f"({why}): use {alternative}."
            )


def check_gaussian(models, caller: str, alternative: str):
    """Raises naming `caller` and `alternative` unless every model predicts Gaussians `(N, 2 * units)`.

    A MIMOModel must have a `"gaussian"` head; a plain model must not be a
    classifier (`kind`) and must output an even number of columns.
    """
    for m in models:
        model_kind, why = kind(m)
        if model_kind == "classifier":
            raise ValueError(
                f"{caller} needs a Gaussian (regression) head, ensemble_method='gaussian'; `model` "
                f"{m.name!r} is a classifier ({why}): use {alternative}."
            )
        if len(m.outputs) == 1 and m.outputs[0].shape[-1] is not None and m.outputs[0].shape[-1] % 2:
            raise ValueError(
                f"{caller}: `model` {m.name!r} outputs {m.outputs[0].shape[-1]} columns; a Gaussian output "
                "has 2 * units (means, then standard deviations)."
            )


def check_single_output(models, caller: str, what: str):
    """Raises unless every model has one output (`what` names its kind in the message)."""
    for model in models:
        if len(model.outputs) != 1:
            raise ValueError(
                f"{caller} scores one {what} output, but `model` {model.name!r} has {len(model.outputs)} "
                f"outputs. Use each {what} output through its own model, e.g. "
                "`keras.Model(model.inputs, model.outputs[i])` for a plain model, or "
                "`model.predict_members(x)[name]` with `keras_mimo.evaluation.scores_from_probabilities`."
            )


def classifier_models(model, caller: str, alternative: str) -> list:
    """The models of `model` for a classifier fit/with pair, checked at the call.

    Accepts one single-output classifier (a MIMOModel, a plain model, a
    with_temperature model) or a non-empty list of them; refuses anything
    else naming `caller`, the argument and what it received, and a Gaussian
    head pointing to `alternative`.
    """
    models = as_model_list(model, caller)
    check_single_output(models, caller, "classifier")
    check_classifier(models, caller, alternative)
    return models


def gaussian_models(model, caller: str, alternative: str) -> list:
    """The models of `model` for a Gaussian fit/with pair, checked at the call (as `classifier_models`)."""
    models = as_model_list(model, caller)
    check_single_output(models, caller, "regression")
    check_gaussian(models, caller, alternative)
    return models


# -- member outputs, numpy


def member_outputs(models, x, batch_size: int, verbose, caller: str, what: str = "classifier"):
    """`(model, outputs (N, M_model, ...))` for each model of the ensemble, one output each."""
    check_single_output(models, caller, what)
    batch_size = check_batch_size(batch_size, caller)
    check_finite_inputs(x, caller)
    for model in models:
        if isinstance(model, MIMOModel):
            out = model.predict_members(x, batch_size=batch_size, verbose=verbose)
        else:
            out = model.predict(x, batch_size=batch_size, verbose=verbose)[:, None]
        check_finite_outputs(out, model.name, caller)
        yield model, out


def check_finite_inputs(x, caller: str):
    """Raises a ValueError naming `x` when its arrays have no rows or hold NaN or inf (datasets pass unchecked)."""
    for t in keras.tree.flatten(x):
        if getattr(t, "shape", None) is None or not hasattr(t, "__array__"):
            continue
        if len(t.shape) and t.shape[0] == 0:
            raise ValueError(f"{caller}: `x` has no rows (shape {tuple(t.shape)}): it needs at least one.")
        try:
            values = np.asarray(t)
        except (TypeError, RuntimeError):  # e.g. a torch tensor on a GPU: predict reads it as it is
            continue
        if values.dtype.kind in "fc" and not np.isfinite(values).all():
            bad = ~np.isfinite(values)
            rows = np.flatnonzero(bad.reshape(len(values), -1).any(-1)) if values.ndim else np.zeros(1, int)
            raise ValueError(
                f"{caller}: `x` must be finite. Received {int(np.isnan(values).sum())} NaN and "
                f"{int(np.isinf(values).sum())} infinite values, in {len(rows)} rows (e.g. rows "
                f"{rows[:5].tolist()}): drop or impute those rows."
            )


def check_finite_outputs(outputs, model_name: str, caller: str):
    """Raises a ValueError naming `x` when a model's outputs on (finite) `x` hold NaN or inf."""
    outputs = np.asarray(outputs)
    bad = ~np.isfinite(outputs)
    if bad.any():
        rows = np.flatnonzero(bad.reshape(len(outputs), -1).any(-1))
        raise ValueError(
            f"{caller}: the outputs of model {model_name!r} on `x` hold {int(bad.sum())} NaN or infinite "
            f"values, in {len(rows)} rows (e.g. rows {rows[:5].tolist()}): check the model for overflow."
        )


def member_predictions(models, x, batch_size: int, from_logits, verbose, caller: str) -> tuple:
    """`(probs, log_probs)` float64 `(N, M, K)`; `log_probs` from logits when every model outputs logits, else None."""
    probs, log_probs = [], []
    for model, out in member_outputs(models, x, batch_size, verbose, caller):
        method = output_form(model, from_logits, out.shape[-1])
        member_probs = predictive.to_numpy(to_probabilities(out, method))
        if method == "mean":
            check_probabilities(member_probs, model.name, caller)
        probs.append(member_probs)
        if method != "mean":
            log_probs.append(predictive.to_numpy(to_log_probabilities(out, method, keras.config.epsilon())))
    all_logits = len(log_probs) == len(probs)
    return np.concatenate(probs, axis=1), np.concatenate(log_probs, axis=1) if all_logits else None


def ensemble_log_probabilities(models, x, batch_size: int, from_logits, caller: str) -> np.ndarray:
    """`(N, K)` float64: the log of the ensemble's mean probability (log space for logits models)."""
    probs, log_probs = member_predictions(models, x, batch_size, from_logits, 0, caller)
    if log_probs is None:
        return predictive.to_numpy(predictive.log_probabilities(predictive.ensemble_probabilities(probs)))
    return predictive.to_numpy(predictive.ensemble_log_probabilities(log_probs))


def member_gaussians(models, x, batch_size: int, verbose, caller: str, alternative: str, name: str = "model") -> tuple:
    """Members' means and standard deviations, each `(N, M, units)` float64; `name`: the caller's model argument."""
    check_gaussian(models, caller, alternative)
    outputs = [
        np.asarray(out, np.float64) for _, out in member_outputs(models, x, batch_size, verbose, caller, "regression")
    ]
    members = np.concatenate(outputs, axis=1)
    units = members.shape[-1] // 2
    stds = members[..., units:]
    if (stds <= 0).any():
        raise ValueError(
            f"{caller}: `{name}` predicts {int((stds <= 0).sum())} standard deviations <= 0 on `x`: a Gaussian "
            "output is [means, stds] with positive stds (e.g. softplus)."
        )
    return members[..., :units], stds


# -- member outputs, symbolic


def new_inputs(model):
    """Fresh `keras.Input`s in the structure, shapes and dtypes of `model`'s inputs."""
    return keras.tree.map_structure(lambda t: keras.Input(batch_shape=t.shape, dtype=t.dtype, name=t.name), model.input)


def _read(outputs, form: str):
    """Member outputs as probabilities (classifiers) or `[means, stds]` (Gaussian), float32."""
    outputs = ops.cast(outputs, "float32")
    return outputs if form == "gaussian" else to_probabilities(outputs, form)


@register
class Ensemble(Float32Layer):
    """Runs the wrapped model(s) on the same inputs and reads the members.

    Args:
        models: a list of `keras.Model`: one `MIMOModel` (its members in one
            forward pass) or plain models (one member each), or several
            (a deep ensemble; members concatenated in order).
        forms: per model, how its outputs read, in the structure of its
            outputs (`keras_mimo.ensembling` methods).
        combine: `"members"`: per output, member class probabilities
            `(N, M, K)`, or for Gaussian forms the member outputs
            `(N, M, 2 * units)`; for one output only:
            `"probabilities"`: the mean member probability `(N, K)`;
            `"gaussian"`: the moment-matched Gaussian `(N, 2 * units)`.

    Computes in float32 (`Float32Layer`): floating inputs reach the wrapped
    models in float32 (never rounded to a mixed policy's dtype), and each
    model computes under its own policy.
    """

    def __init__(self, models, forms, combine: str = "probabilities", **kwargs):
        super().__init__(**kwargs)
        if combine not in _COMBINE:
            raise ValueError(f"`combine` must be one of {_COMBINE}. Received: combine={combine!r}")
        self.models = list(models)
        # JSON text: Keras would wrap nested lists/dicts into tracking containers
        self._forms = json.dumps(list(forms))
        self.combine = combine

    @property
    def forms(self) -> list:
        return json.loads(self._forms)

    def members(self, inputs):
        """The members' outputs, `(N, M, ...)` per output, in the outputs' structure."""
        parts = []
        for model, form in zip(self.models, self.forms):
            if isinstance(model, MIMOModel):
                out = model.call_members(inputs)
            else:
                out = keras.tree.map_structure(lambda t: ops.expand_dims(t, 1), model(inputs, training=False))
            parts.append(keras.tree.map_structure(_read, out, form))
        if len(parts) == 1:
            return parts[0]
        return keras.tree.map_structure(lambda *leaves: ops.concatenate(leaves, axis=1), *parts)

    def call(self, inputs):
        members = self.members(inputs)
        if self.combine == "members":
            return members
        if self.combine == "gaussian":
            return combine_members(members, "gaussian")
        return predictive.ensemble_probabilities(members)

    def get_config(self):
        return {
            **super().get_config(),
            "models": [keras.saving.serialize_keras_object(m) for m in self.models],
            "forms": self.forms,
            "combine": self.combine,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["models"] = [keras.saving.deserialize_keras_object(m) for m in config["models"]]
        return cls(**config)


def symbolic_probabilities(models, from_logits):
    """`(inputs, probabilities (N, K))` of a classifier ensemble (models from `classifier_models`), symbolic."""
    inputs = new_inputs(models[0])
    return inputs, Ensemble(models, forms(models, from_logits), "probabilities", name="ensemble")(inputs)


def symbolic_gaussian(models):
    """`(inputs, [mean, std] (N, 2 * units))` of a Gaussian ensemble (models from `gaussian_models`), symbolic."""
    inputs = new_inputs(models[0])
    return inputs, Ensemble(models, ["gaussian"] * len(models), "gaussian", name="ensemble")(inputs)


def symbolic_members(models, from_logits, caller: str):
    """`(inputs, members, forms of the first model)`: member outputs `(N, M, ...)` per output, symbolic."""
    model_forms = forms(models, from_logits)
    if any(keras.tree.flatten(f) != keras.tree.flatten(model_forms[0]) for f in model_forms):
        raise ValueError(
            f"{caller}: the models of a deep ensemble must have the same output forms. Received: {model_forms}"
        )
    inputs = new_inputs(models[0])
    return inputs, Ensemble(models, model_forms, "members", name="ensemble")(inputs), model_forms[0]
