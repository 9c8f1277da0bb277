"""Functional wrappers over a MIMOModel, a deep ensemble or one model.

`with_prediction_sets`, `with_prediction_intervals`, `with_uncertainty` and
`with_temperature` build a `keras.Model` on new inputs of the wrapped
model's structure; `Ensemble` is the one layer that runs the wrapped
model(s) and reads their outputs (one forward pass of a MIMOModel, one per
deep-ensemble member).
"""

import json

import keras
from keras import ops

from keras_mimo._serialization import register
from keras_mimo.ensembling import combine_members
from keras_mimo.ensembling import to_probabilities
from keras_mimo.evaluation.predictions import as_model_list
from keras_mimo.evaluation.predictions import output_form
from keras_mimo.model import MIMOModel

__all__ = [
    "Ensemble", "check_classifier", "ensemble_gaussian", "ensemble_probabilities", "forms", "is_gaussian", "name", "new_inputs",
]

_COMBINE = ("members", "probabilities", "gaussian")


def is_gaussian(model_or_models) -> bool:
    """Whether any of the models is a MIMOModel with a Gaussian head."""
    models = model_or_models if isinstance(model_or_models, (list, tuple)) else [model_or_models]
    return any(isinstance(m, MIMOModel) and m.ensemble_method == "gaussian" for m in models)


def check_classifier(model_or_models, caller: str, alternative: str):
    """Raises a `ValueError` naming `caller` and `alternative` for a Gaussian (regression) head."""
    if is_gaussian(model_or_models):
        raise ValueError(
            f"{caller} needs a classifier; this model has a Gaussian (regression) head: use {alternative}."
        )


def name(model_or_models) -> str:
    models = as_model_list(model_or_models)
    return models[0].name if len(models) == 1 else f"deep_ensemble{len(models)}"


def new_inputs(model):
    """Fresh `keras.Input`s in the structure, shapes and dtypes of `model`'s inputs."""
    return keras.tree.map_structure(
        lambda t: keras.Input(batch_shape=t.shape, dtype=t.dtype, name=t.name), model.input
    )


def _single_output(models, what: str):
    for model in models:
        if len(model.outputs) != 1:
            raise ValueError(
                f"{what} serves one output, but model {model.name!r} has {len(model.outputs)}. "
                "Wrap each output through its own model, e.g. "
                "`keras.Model(model.inputs, model.outputs[i])` for a plain model."
            )


def _read(outputs, form: str):
    """Member outputs as probabilities (classifiers) or `[means, stds]` (Gaussian), float32."""
    outputs = ops.cast(outputs, "float32")
    return outputs if form == "gaussian" else to_probabilities(outputs, form)


@register
class Ensemble(keras.layers.Layer):
    """Runs the wrapped model(s) on the same inputs and reads the members.

    Args:
        models: a list of `keras.Model`: one `MIMOModel` (its members in one
            forward pass) or plain models (one member each), or several
            (a deep ensemble; members concatenated in order).
        forms: per model, how its outputs read, in the structure of its
            outputs: `keras_mimo.ensembling` methods (`"mean"`,
            `"softmax_logits"`, `"sigmoid_logits"`, `"gaussian"`).
        combine: `"members"`: per output, member class probabilities
            `(N, M, K)`, or for Gaussian forms the member outputs
            `(N, M, 2 * units)`; for one output only:
            `"probabilities"`: the mean member probability `(N, K)`;
            `"gaussian"`: the moment-matched Gaussian `(N, 2 * units)`.
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
        return ops.mean(members, axis=1)

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


def forms(models, from_logits=None) -> list:
    """Per model, the form of each output (`output_form`) in the outputs' structure."""
    result = []
    for m in models:
        if isinstance(m, MIMOModel):
            result.append(m.ensemble_method)
        else:
            result.append(keras.tree.map_structure(lambda t: output_form(m, from_logits, t.shape[-1]), m.output))
    return result


def ensemble_probabilities(model_or_models, from_logits=None):
    """`(inputs, probabilities (N, K))` of a classifier ensemble, symbolic."""
    models = as_model_list(model_or_models)
    _single_output(models, "A classifier wrapper")
    forms_ = forms(models, from_logits)
    if "gaussian" in forms_:
        raise ValueError("Prediction sets need a classifier; this model has a Gaussian (regression) head.")
    inputs = new_inputs(models[0])
    return inputs, Ensemble(models, forms_, "probabilities", name="ensemble")(inputs)


def ensemble_gaussian(model_or_models):
    """`(inputs, [mean, std] (N, 2 * units))` of a Gaussian ensemble, symbolic."""
    models = as_model_list(model_or_models)
    _single_output(models, "A regression wrapper")
    for m in models:
        if isinstance(m, MIMOModel) and m.ensemble_method != "gaussian":
            raise ValueError(
                f"Prediction intervals need a Gaussian head (ensemble_method='gaussian'); model "
                f"{m.name!r} has ensemble_method={m.ensemble_method!r}."
            )
        if m.outputs[0].shape[-1] % 2:
            raise ValueError(
                f"Model {m.name!r} outputs {m.outputs[0].shape[-1]} columns; a Gaussian output has "
                "2 * units (means, then standard deviations)."
            )
    inputs = new_inputs(models[0])
    return inputs, Ensemble(models, ["gaussian"] * len(models), "gaussian", name="ensemble")(inputs)
