"""`Ensemble`, a layer: runs the models of an ensemble on the same inputs and reads their members."""

import json

import keras
from keras import ops

from keras_mimo._serialization import register
from keras_mimo.ensembles import kinds
from keras_mimo.ensembles.layer_bases import Float32Layer
from keras_mimo.ensembles.methods import check_ensemble_method
from keras_mimo.ensembles.methods import combine_members
from keras_mimo.ensembles.methods import to_probabilities
from keras_mimo.ensembles.quantities import ensemble_probabilities

COMBINE = ("members", "probabilities", "gaussian")


def _read(outputs, form: str):
    """Member outputs as probabilities (classifiers) or `[means, stds]` (Gaussian), float32."""
    outputs = ops.cast(outputs, "float32")
    return outputs if form == "gaussian" else to_probabilities(outputs, form)


@register
class Ensemble(Float32Layer):
    """Runs the wrapped model(s) on the same inputs and reads the members.

    Args:
        models: a list of `keras.Model`: one `MIMOModel` (its members in one
            forward pass) or plain model (one member), or several (a deep
            ensemble; members concatenated in order).
        forms: per model, how its outputs read, in the structure of its
            outputs (`keras_mimo.ensembles.methods` names).
        combine: `"members"`: per output, member class probabilities
            `(N, M, K)`, or for Gaussian forms the member outputs
            `(N, M, 2 * units)`; for one output only:
            `"probabilities"`: the mean member probability `(N, K)`;
            `"gaussian"`: the moment-matched Gaussian `(N, 2 * units)`.

    Computes in float32 (`Float32Layer`): floating inputs reach the wrapped
    models in float32 (never rounded to a mixed policy's dtype), and each
    model computes under its own policy. Registered as `keras_mimo>Ensemble`
    with this class name (Keras's weight paths follow it), as keras-mimo 0.1
    saved its private layer: those files load as this layer.
    """

    def __init__(self, models, forms, combine: str = "probabilities", **kwargs):
        super().__init__(**kwargs)
        if combine not in COMBINE:
            raise ValueError(f"`combine` must be one of {COMBINE}. Received: combine={combine!r}")
        models, forms = list(models), list(forms)
        if not models or not all(isinstance(m, keras.Model) for m in models):
            raise TypeError(f"`models` must be a non-empty list of keras.Model. Received: models={models!r}")
        if len(forms) != len(models):
            raise ValueError(
                f"`forms` must hold one entry per model ({len(models)}). Received: forms={forms!r} ({len(forms)})"
            )
        flat = [f for form in forms for f in keras.tree.flatten(form)]
        for form in flat:
            check_ensemble_method(form)
        wanted = {"probabilities": lambda f: f != "gaussian", "gaussian": lambda f: f == "gaussian"}.get(combine)
        if wanted is not None and not all(wanted(f) for f in flat):
            raise ValueError(
                f"combine={combine!r} needs {'classifier' if combine == 'probabilities' else 'Gaussian'} forms. "
                f"Received: forms={forms!r}"
            )
        self.models = models
        # JSON text: Keras would wrap nested lists/dicts into tracking containers
        self._forms = json.dumps(list(forms))
        self.combine = combine

    @property
    def forms(self) -> list:
        return json.loads(self._forms)

    def members(self, inputs):
        """The members' outputs, `(N, M, ...)` per output, in the outputs' structure."""
        parts = [
            keras.tree.map_structure(_read, kinds.call_members(model, inputs), form)
            for model, form in zip(self.models, self.forms)
        ]
        if len(parts) == 1:
            return parts[0]
        return keras.tree.map_structure(lambda *leaves: ops.concatenate(leaves, axis=1), *parts)

    def call(self, inputs):
        members = self.members(inputs)
        if self.combine == "members":
            return members
        if self.combine == "gaussian":
            return combine_members(members, "gaussian")
        return ensemble_probabilities(members)

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
