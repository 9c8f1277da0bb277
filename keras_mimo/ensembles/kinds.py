"""What a model given to keras-mimo is, and how its outputs read: the one place that asks.

A model given to a post-hoc or evaluation function is one of:

- a `MIMOModel`: its members in one forward pass; its heads'
  `ensemble_method` says how the outputs read;
- a model whose last layer is an `OutputFormLayer` (from `with_temperature`
  or `with_std_scale`): one member, in the form that layer names;
- any other `keras.Model`: one member; probabilities unless
  `from_logits=True`.

Output forms are `keras_mimo.ensembles.methods` names: `"mean"`
(probabilities), `"softmax_logits"`, `"sigmoid_logits"`, `"gaussian"`
(`[means, stds]`).
"""

import keras
from keras import ops

from keras_mimo import _keras_compat
from keras_mimo.ensembles.layer_bases import OutputFormLayer
from keras_mimo.ensembles.methods import logits_method

_PROBABILITY_ACTIVATIONS = ("softmax", "sigmoid", "log_softmax")


def is_mimo_model(model) -> bool:
    """Whether `model` is a `MIMOModel` (its members run in one forward pass)."""
    from keras_mimo.model import MIMOModel  # the model module imports the layers, which import this package

    return isinstance(model, MIMOModel)


def _form_layer(model):
    """The `OutputFormLayer` that makes `model`'s only output, or None."""
    layers = getattr(model, "layers", None)
    if layers and len(model.outputs) == 1 and isinstance(layers[-1], OutputFormLayer):
        return layers[-1]
    return None


def output_form(model, from_logits, units: int) -> str:
    """How one output of `model` with `units` columns reads (a method name).

    A MIMOModel's head decides (a contradicting `from_logits` is refused by
    `check_from_logits`); a model ending in an `OutputFormLayer` keeps that
    layer's form; any other model outputs probabilities unless
    `from_logits=True`.
    """
    if is_mimo_model(model):
        return model.ensemble_method
    if from_logits is None:
        layer = _form_layer(model)
        if layer is not None:
            return layer.ensemble_method
        if _output_activation(model)[1] == "log_softmax":  # log-probabilities read as logits
            return logits_method(units)
    return logits_method(units) if from_logits else "mean"


def says_probabilities(model) -> bool | None:
    """Whether `model`'s only output says it is probabilities (True), logits (False), or does not say (None).

    A classifier by `kind` says, in the form `output_form` reads it without
    `from_logits`: a MIMOModel's head, a wrapper's `OutputFormLayer`, or a
    plain output layer (Softmax, softmax / sigmoid: probabilities;
    log-softmax: logits). Gaussian heads and plain outputs without one of
    these activations say nothing.
    """
    if kind(model)[0] != "classifier":
        return None
    return output_form(model, None, model.outputs[0].shape[-1]) == "mean"


def check_from_logits(model, from_logits):
    """Raises when `from_logits` contradicts what `model`'s output says it is (`says_probabilities`)."""
    if from_logits is None:
        return
    says = says_probabilities(model)
    if says is not None and says == bool(from_logits):
        what = "probabilities" if says else "logits"
        raise ValueError(
            f"`from_logits` contradicts model {model.name!r}, whose output says it is {what} "
            f"({kind(model)[1] or 'its head'}): leave from_logits=None to read it as it says. "
            f"Received: from_logits={from_logits!r}"
        )


def wrapped_output_form(model, from_logits) -> str:
    """The form of the (single) output `model(x)` returns, which a wrapper's last layer reads.

    A MIMOModel returns its heads' combined output, in its head's form; any
    other model is read as `output_form` reads it.
    """
    if is_mimo_model(model):
        return model.ensemble_method
    return output_form(model, from_logits, model.outputs[0].shape[-1])


def forms(model, from_logits=None):
    """The form of each of `model`'s outputs, in the outputs' structure."""
    if is_mimo_model(model):
        return model.ensemble_method
    return keras.tree.map_structure(lambda t: output_form(model, from_logits, t.shape[-1]), model.output)


def heads(model) -> list:
    """Per flat output of `model`: `(description, activation name or None)`, for messages."""
    if is_mimo_model(model):
        return [(f"MIMOHead {h.name!r}", keras.activations.serialize(h.activation)) for h in model.heads]
    return [(f"output {t.name!r}", None) for t in keras.tree.flatten(model.outputs)]


def _output_layer(model):
    """The layer that makes `model`'s only output, or None."""
    outputs = getattr(model, "outputs", None) or []
    return _keras_compat.producing_layer_or_none(outputs[0]) if len(outputs) == 1 else None


def _output_activation(model) -> tuple:
    """`(layer, activation name)` of the layer making `model`'s only output ("softmax" for a Softmax layer)."""
    layer = _output_layer(model)
    if isinstance(layer, keras.layers.Softmax):
        return layer, "softmax"
    return layer, getattr(getattr(layer, "activation", None), "__name__", None)


def kind(model) -> tuple:
    """`(kind, why)`: `"classifier"`, `"gaussian"` or None (a plain model whose output does not say).

    A MIMOModel's head says (`ensemble_method`); a wrapper says by its
    `OutputFormLayer`; a plain model says by its output layer's activation
    (softmax, sigmoid, log-softmax: a classifier).
    """
    if is_mimo_model(model):
        method = model.ensemble_method
        if not isinstance(method, str):
            return None, None
        return ("gaussian" if method == "gaussian" else "classifier"), f"ensemble_method={method!r}"
    layer = _form_layer(model)
    if layer is not None:
        form = "gaussian" if layer.ensemble_method == "gaussian" else "classifier"
        return form, f"its last layer {type(layer).__name__} {layer.name!r} reads it so"
    layer, name = _output_activation(model)
    if isinstance(layer, keras.layers.Softmax):
        return "classifier", f"output layer {layer.name!r} is a Softmax"
    if name in _PROBABILITY_ACTIVATIONS:
        return "classifier", f"output layer {layer.name!r} has activation={name!r}"
    return None, None


def predict_members(model, x, batch_size, verbose):
    """`model`'s member outputs `(N, M_model, ...)` (numpy), by Keras's `predict`: a MIMOModel's in one pass."""
    if is_mimo_model(model):
        return model.predict_members(x, batch_size=batch_size, verbose=verbose)
    return keras.tree.map_structure(lambda t: t[:, None], model.predict(x, batch_size=batch_size, verbose=verbose))


def call_members(model, inputs):
    """`model`'s member outputs `(N, M_model, ...)` on symbolic or backend tensors, in inference mode."""
    if is_mimo_model(model):
        return model.call_members(inputs)
    return keras.tree.map_structure(lambda t: ops.expand_dims(t, 1), model(inputs, training=False))
