"""Uncertainty outputs for serving: the prediction and its uncertainty, one forward pass.

`with_uncertainty(model)` wraps a MIMOModel (or a plain model, or a deep
ensemble as a list) into a `keras.Model` whose outputs are dicts:

- classifier heads: `probabilities` `(N, K)` (the mean member probability),
  `confidence` `(N,)` (its maximum), `predictive_entropy` `(N,)` (total:
  the entropy of the mean), `expected_entropy` `(N,)` (aleatoric: the mean
  member entropy) and `mutual_information` `(N,)` (epistemic: total minus
  aleatoric, clipped at 0 against rounding); natural logarithms (nats).
- Gaussian heads: `mean` `(N, units)`, `std` (total: the moment-matched
  mixture's), `aleatoric_std` (the root of the mean member variance) and
  `epistemic_std` (the root of the variance of the member means);
  `std^2 = aleatoric_std^2 + epistemic_std^2`.

A one-member model (a plain model) has no epistemic part: its mutual
information and `epistemic_std` are 0.

References:
    Depeweg et al., "Decomposition of uncertainty in Bayesian deep learning
    for efficient and risk-sensitive learning", ICML 2018.
"""

import keras
from keras import ops

from keras_mimo import _ensemble_graph
from keras_mimo._serialization import register
from keras_mimo.evaluation.predictions import as_model_list
from keras_mimo.model import MIMOModel

__all__ = ["ClassifierUncertainty", "GaussianUncertainty", "with_uncertainty"]

_PROBABILITY_ACTIVATIONS = ("softmax", "sigmoid", "log_softmax")


def _entropy(probs):
    """Entropy in nats over the last axis (0 log 0 = 0)."""
    return -ops.sum(probs * ops.log(ops.clip(probs, 1e-30, 1.0)), axis=-1)


@register
class ClassifierUncertainty(keras.layers.Layer):
    """Member probabilities `(N, M, K)` to the classifier's uncertainty dict (see the module)."""

    def call(self, members):
        members = ops.cast(members, "float32")
        probs = ops.mean(members, axis=1)
        total = _entropy(probs)
        aleatoric = ops.mean(_entropy(members), axis=1)
        return {
            "probabilities": probs,
            "confidence": ops.max(probs, axis=-1),
            "predictive_entropy": total,
            "expected_entropy": aleatoric,
            "mutual_information": ops.maximum(total - aleatoric, 0.0),
        }


@register
class GaussianUncertainty(keras.layers.Layer):
    """Member Gaussians `(N, M, 2 * units)` to the regression uncertainty dict (see the module)."""

    def call(self, members):
        members = ops.cast(members, "float32")
        units = members.shape[-1] // 2
        means, stds = members[..., :units], members[..., units:]
        mean = ops.mean(means, axis=1)
        aleatoric = ops.mean(ops.square(stds), axis=1)
        epistemic = ops.maximum(ops.mean(ops.square(means), axis=1) - ops.square(mean), 0.0)
        return {
            "mean": mean,
            "std": ops.sqrt(aleatoric + epistemic),
            "aleatoric_std": ops.sqrt(aleatoric),
            "epistemic_std": ops.sqrt(epistemic),
        }


def _heads(model):
    """Per output (flat order), a description of the head for error messages and its activation."""
    if isinstance(model, MIMOModel):
        heads = model._mimo_graph.heads
        return [(f"MIMOHead {h.name!r}", keras.activations.serialize(h.activation)) for h in heads]
    return [(f"output {t.name!r}", None) for t in keras.tree.flatten(model.outputs)]


def _check_servable(model, forms):
    for (head, activation), form in zip(_heads(model), keras.tree.flatten(forms)):
        if form == "mean" and activation is not None and activation not in _PROBABILITY_ACTIVATIONS:
            raise ValueError(
                f"with_uncertainty cannot serve {head} of model {model.name!r}: it averages "
                f"activation={activation!r} outputs (regression values without a standard "
                "deviation). Serve classifier heads (softmax/sigmoid or logits) or Gaussian heads "
                "(ensemble_method='gaussian'); wrap the other outputs separately."
            )


def with_uncertainty(model, from_logits: bool | None = None) -> keras.Model:
    """`model` predicting dicts of its prediction and uncertainty, in one forward pass.

    Args:
        model: a `MIMOModel` (its members in one forward pass), a plain
            model (one member), or a list of models (a deep ensemble, one
            pass per member) with the same inputs and output structure.
        from_logits: for plain models, whether they output logits (as in
            `keras_mimo.evaluate_ensemble`); a MIMOModel's head decides.

    Returns:
        A functional `keras.Model` on `model`'s inputs. One output: one
        dict (module docstring); several outputs: one dict per output in the
        model's structure (list or dict). Saves and loads as `.keras`;
        `export()` writes a SavedModel whose `serve` returns the dict(s).
    """
    models = as_model_list(model)
    forms = _ensemble_graph.forms(models, from_logits)
    for m, form in zip(models, forms):
        _check_servable(m, form)
    if any(keras.tree.flatten(f) != keras.tree.flatten(forms[0]) for f in forms):
        raise ValueError(f"The models of a deep ensemble must have the same output forms. Received: {forms}")
    inputs = _ensemble_graph.new_inputs(models[0])
    members = _ensemble_graph.Ensemble(models, forms, "members", name="ensemble")(inputs)
    flat = keras.tree.flatten(members)
    flat_forms = keras.tree.flatten(forms[0])
    outputs = [
        (GaussianUncertainty if form == "gaussian" else ClassifierUncertainty)(name=f"uncertainty_{i}")(m)
        for i, (m, form) in enumerate(zip(flat, flat_forms))
    ]
    structure = outputs[0] if len(outputs) == 1 and not isinstance(forms[0], (list, dict)) else (
        keras.tree.pack_sequence_as(forms[0], outputs)
    )
    return keras.Model(inputs, structure, name=f"{_ensemble_graph.name(models)}_uncertainty")
