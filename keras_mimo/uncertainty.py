"""Uncertainty outputs for serving: the prediction and its uncertainty, one forward pass.

`with_uncertainty(model)` wraps a MIMOModel (or a plain model, or a deep
ensemble as a list) into a `keras.Model` whose outputs are dicts:

- classifier heads: `probabilities` `(N, K)` (the mean member probability),
  `confidence` `(N,)` (its maximum), `predictive_entropy` `(N,)` (total:
  the entropy of the mean), `expected_entropy` `(N,)` (aleatoric: the mean
  member entropy) and `mutual_information` `(N,)` (epistemic: total minus
  aleatoric, clamped at 0 against rounding); natural logarithms (nats).
- Gaussian heads: `mean` `(N, units)`, `std` (total: the moment-matched
  mixture's), `aleatoric_std` (the root of the mean member variance) and
  `epistemic_std` (the root of the variance of the member means);
  `std^2 = aleatoric_std^2 + epistemic_std^2`.

A one-member model (a plain model) has no epistemic part: its mutual
information and `epistemic_std` are 0. The wrapper computes in float32
under any dtype policy (`keras_mimo.ensembles.Float32Layer`): its
probabilities equal `predict`'s also under `mixed_bfloat16`.

References:
    Depeweg et al., "Decomposition of uncertainty in Bayesian deep learning
    for efficient and risk-sensitive learning", ICML 2018.
"""

import keras
from keras import ops

from keras_mimo._serialization import register
from keras_mimo.ensembles.reading import EnsembleReader
from keras_mimo.ensembles.layer_bases import Float32Layer
from keras_mimo.ensembles import ensemble_probabilities
from keras_mimo.ensembles import entropy
from keras_mimo.ensembles import expected_entropy
from keras_mimo.ensembles import gaussian_moments
from keras_mimo.ensembles import mutual_information
from keras_mimo.ensembles import split_gaussian

__all__ = ["ClassifierUncertainty", "GaussianUncertainty", "with_uncertainty"]

_PROBABILITY_ACTIVATIONS = ("softmax", "sigmoid", "log_softmax")


@register
class ClassifierUncertainty(Float32Layer):
    """Member probabilities `(N, M, K)` to the classifier's uncertainty dict (see the module)."""

    def build(self, input_shape):
        _check_members(input_shape, "ClassifierUncertainty", "member probabilities (N, M, K)")

    def call(self, members):
        probs = ensemble_probabilities(members)
        return {
            "probabilities": probs,
            "confidence": ops.max(probs, axis=-1),
            "predictive_entropy": entropy(probs),
            "expected_entropy": expected_entropy(members),
            "mutual_information": mutual_information(members),
        }


@register
class GaussianUncertainty(Float32Layer):
    """Member Gaussians `(N, M, 2 * units)` to the regression uncertainty dict (see the module)."""

    def build(self, input_shape):
        _check_members(input_shape, "GaussianUncertainty", "member Gaussians [means, stds] (N, M, 2 * units)")
        if input_shape[-1] is not None and input_shape[-1] % 2:
            raise ValueError(
                f"GaussianUncertainty: `members` must be member Gaussians [means, stds] (N, M, 2 * units), an "
                f"even number of columns. Received: members of shape {tuple(input_shape)}"
            )

    def call(self, members):
        mean, aleatoric, epistemic = gaussian_moments(*split_gaussian(members, "members"))
        return {
            "mean": mean,
            "std": ops.sqrt(aleatoric + epistemic),
            "aleatoric_std": ops.sqrt(aleatoric),
            "epistemic_std": ops.sqrt(epistemic),
        }


def _check_members(input_shape, layer: str, what: str):
    if len(input_shape) < 3:
        raise ValueError(
            f"`members` of {layer} must be {what}, with a member axis 1. Received: members of shape "
            f"{tuple(input_shape)}"
        )


def _check_servable(model, heads, forms):
    for (head, activation), form in zip(heads, keras.tree.flatten(forms)):
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
    ensemble = EnsembleReader(model, from_logits, argument="model").require_known_form()
    for m, heads, form in zip(ensemble.models, ensemble.heads(), ensemble.forms):
        _check_servable(m, heads, form)
    inputs, members, forms = ensemble.symbolic_members()
    outputs = [
        (GaussianUncertainty if form == "gaussian" else ClassifierUncertainty)(name=f"uncertainty_{i}")(m)
        for i, (m, form) in enumerate(zip(keras.tree.flatten(members), keras.tree.flatten(forms)))
    ]
    single = len(outputs) == 1 and not isinstance(forms, (list, dict))
    structure = outputs[0] if single else keras.tree.pack_sequence_as(forms, outputs)
    return keras.Model(inputs, structure, name=f"{ensemble.name}_uncertainty")
