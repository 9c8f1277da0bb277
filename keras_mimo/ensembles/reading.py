"""`as_ensemble`: one object for every way keras-mimo takes "a model", and its members' outputs.

Every post-hoc and evaluation function (`keras_mimo.calibration`,
`keras_mimo.conformal`, `keras_mimo.with_uncertainty`,
`keras_mimo.evaluation`) reads its `model` argument through an `EnsembleReader`:

- a `MIMOModel`: its members in one forward pass;
- a plain `keras.Model` or a wrapper from `with_temperature`: one member;
- a list of models (a deep ensemble): their members concatenated in order.

Two ways to the members' outputs `(N, M, ...)`: the numpy methods (through
Keras's `predict`: batching, progress bar, datasets) and the symbolic ones
(an `Ensemble` on fresh inputs, for the wrappers' functional models).
Each `fit_<noun>` / `with_<noun>` pair checks its model with the same
`require_*` method, so the pair accepts and refuses the same models.
"""

import functools
from collections.abc import Sequence

import keras
import numpy as np

from keras_mimo._validation import check_batch_size
from keras_mimo._validation import check_inputs
from keras_mimo._validation import check_probabilities
from keras_mimo.ensembles import kinds
from keras_mimo.ensembles.layer import Ensemble
from keras_mimo.ensembles.methods import to_log_probabilities
from keras_mimo.ensembles.methods import to_probabilities
from keras_mimo.ensembles.quantities import ensemble_probabilities
from keras_mimo.ensembles.quantities import log_mean_exp
from keras_mimo.ensembles.quantities import log_probabilities
from keras_mimo.ensembles.quantities import to_numpy


def as_ensemble(model_or_models, from_logits: bool | None = None) -> "EnsembleReader":
    """The ensemble of `model_or_models`, as every keras-mimo function reads it.

    Args:
        model_or_models: a `MIMOModel`, any `keras.Model` (one member), or a
            non-empty list of them (a deep ensemble).
        from_logits: for plain models, whether they output logits (None:
            probabilities); a MIMOModel's head and a `with_temperature`
            model's last layer say it themselves.

    Returns:
        An `EnsembleReader`.
    """
    return EnsembleReader(model_or_models, from_logits)


def _model_list(model_or_models, argument: str) -> list:
    if isinstance(model_or_models, keras.Model):
        return [model_or_models]
    if (
        isinstance(model_or_models, Sequence)
        and not isinstance(model_or_models, (str, bytes))
        and model_or_models
        and all(isinstance(m, keras.Model) for m in model_or_models)
    ):
        return list(model_or_models)
    raise TypeError(
        f"`{argument}` must be a keras.Model (a MIMOModel or a single model) or a non-empty list of "
        f"keras.Model (a deep ensemble). Received: {argument}={model_or_models!r}"
    )


def _check_finite_outputs(outputs, model_name: str):
    outputs = np.asarray(outputs)
    bad = ~np.isfinite(outputs)
    if bad.any():
        rows = np.flatnonzero(bad.reshape(len(outputs), -1).any(-1))
        raise ValueError(
            f"The outputs of model {model_name!r} on `x` hold {int(bad.sum())} NaN or infinite values, in "
            f"{len(rows)} rows (e.g. rows {rows[:5].tolist()}): check the model for overflow."
        )


def new_inputs(model):
    """Fresh `keras.Input`s in the structure, shapes and dtypes of `model`'s inputs."""
    return keras.tree.map_structure(lambda t: keras.Input(batch_shape=t.shape, dtype=t.dtype, name=t.name), model.input)


class EnsembleReader:
    """Models read as one ensemble: their members' outputs, numpy or symbolic, and their forms.

    Build it with `as_ensemble`. Attributes: `models` (a list), `from_logits`,
    `forms` (per model, each output's `keras_mimo.ensembles.methods` name in
    the structure of its outputs) and `name` (a name for wrappers).
    """

    def __init__(self, model_or_models, from_logits: bool | None = None, *, argument: str = "model_or_models"):
        self.models = _model_list(model_or_models, argument)
        if from_logits is not None and not isinstance(from_logits, (bool, np.bool_)):
            raise TypeError(
                "`from_logits` must be True (logits), False (probabilities) or None (as the model says). "
                f"Received: from_logits={from_logits!r}"
            )
        self.from_logits = None if from_logits is None else bool(from_logits)
        for model in self.models:
            kinds.check_from_logits(model, self.from_logits)
        self.argument = argument

    @functools.cached_property
    def forms(self) -> list:
        """Per model, each output's form in the structure of its outputs (read from its symbolic outputs)."""
        return [kinds.forms(m, self.from_logits) for m in self.models]

    @property
    def name(self) -> str:
        return self.models[0].name if len(self.models) == 1 else f"deep_ensemble{len(self.models)}"

    def heads(self) -> list:
        """Per model, per flat output: `(description, activation name or None)`, for messages."""
        return [kinds.heads(m) for m in self.models]

    # -- checks, at the entry points

    def require_single_output(self, what: str = "classifier"):
        """Raises unless every model has one output (`what` names its kind in the message), all alike."""
        for model in self.models:
            if len(model.outputs) != 1:
                raise ValueError(
                    f"`{self.argument}` must have one {what} output. Use each output through its own model, e.g. "
                    "`keras.Model(model.inputs, model.outputs[i])` for a plain model, or "
                    "`model.predict_members(x)[name]` with `keras_mimo.evaluation.scores_from_probabilities`. "
                    f"Received: model {model.name!r} with {len(model.outputs)} outputs"
                )
        self._require_alike()
        return self

    def _require_alike(self):
        """Raises unless the models of a deep ensemble take the same inputs and give outputs of one shape."""
        first = self.models[0]

        def shapes(tensors):
            return [tuple(t.shape[1:]) for t in keras.tree.flatten(tensors)]

        for model in self.models[1:]:
            for what, mine, theirs in (
                ("inputs", shapes(model.inputs), shapes(first.inputs)),
                ("outputs", shapes(model.outputs), shapes(first.outputs)),
            ):
                if mine != theirs:
                    raise ValueError(
                        f"The models of a deep ensemble (`{self.argument}`) must have {what} of the same shapes: "
                        f"model {first.name!r} has {theirs}. Received: model {model.name!r} with {mine}"
                    )

    def require_known_form(self):
        """Raises for a plain model whose output does not say what it is, unless `from_logits` says it."""
        for m in self.models:
            if self.from_logits is None and not kinds.is_mimo_model(m) and kinds.kind(m)[0] is None:
                raise ValueError(
                    f"`from_logits` must be given for model {m.name!r}: its output layer does not say whether it "
                    "outputs logits or probabilities (no softmax or sigmoid). Pass from_logits=True for logits, "
                    "False for probabilities. Received: from_logits=None"
                )
        return self

    def require_classifier(self, alternative: str | None = None, single_output: bool = True):
        """Raises unless every model is a classifier; a Gaussian head's message points to `alternative`.

        A plain model whose output does not say what it is (no softmax or
        sigmoid: logits or probabilities?) needs `from_logits`: the numpy and
        the symbolic paths (a `fit_*` and its `with_*`) then read it alike.
        """
        if single_output:
            self.require_single_output("classifier")
        self.require_known_form()
        for m in self.models:
            model_kind, why = kinds.kind(m)
            if model_kind == "gaussian":
                raise ValueError(
                    f"`{self.argument}` must be a classifier"
                    + (f"; for a Gaussian (regression) head use {alternative}" if alternative else "")
                    + f". Received: model {m.name!r} with a Gaussian (regression) head ({why})"
                )
        return self

    def require_gaussian(self, alternative: str | None = None, single_output: bool = True):
        """Raises unless every model predicts Gaussians `(N, 2 * units)`; a classifier's message points to `alternative`."""
        if single_output:
            self.require_single_output("regression")
        for m in self.models:
            model_kind, why = kinds.kind(m)
            if model_kind == "classifier":
                raise ValueError(
                    f"`{self.argument}` must have a Gaussian (regression) head, ensemble_method='gaussian'"
                    + (f"; for a classifier use {alternative}" if alternative else "")
                    + f". Received: model {m.name!r}, a classifier ({why})"
                )
            columns = m.outputs[0].shape[-1] if len(m.outputs) == 1 else None
            if columns is not None and columns % 2:
                raise ValueError(
                    f"`{self.argument}` must output Gaussians with 2 * units columns (means, then standard "
                    f"deviations). Received: model {m.name!r} with {columns} columns"
                )
        return self

    # -- member outputs, numpy

    def member_outputs(self, x, batch_size: int | None = None, verbose=0, what: str = "classifier"):
        """`(model, outputs (N, M_model, ...))` per model of one `what` output; checks `x` and the outputs."""
        self.require_single_output(what)
        batch_size = check_batch_size(batch_size)
        check_inputs(x, "x")
        for model in self.models:
            out = kinds.predict_members(model, x, batch_size, verbose)
            _check_finite_outputs(out, model.name)
            yield model, out

    def member_probabilities(self, x, batch_size: int | None = None, verbose=0) -> tuple:
        """`(probs, log_probs)` float64 `(N, M, K)`; `log_probs` from logits when every model outputs logits, else None."""
        probs, log_probs = [], []
        for model, out in self.member_outputs(x, batch_size, verbose):
            method = kinds.output_form(model, self.from_logits, out.shape[-1])
            member_probs = to_numpy(to_probabilities(out, method))
            if method == "mean":
                check_probabilities(member_probs, model.name)
            probs.append(member_probs)
            if method != "mean":
                log_probs.append(to_numpy(to_log_probabilities(out, method, keras.config.epsilon())))
        all_logits = len(log_probs) == len(probs)
        return np.concatenate(probs, axis=1), np.concatenate(log_probs, axis=1) if all_logits else None

    def predictive_log_probabilities(self, x, batch_size: int | None = None) -> np.ndarray:
        """`(N, K)` float64: the log of the mean member probability (in log space for logits models)."""
        probs, log_probs = self.member_probabilities(x, batch_size)
        if log_probs is None:
            return to_numpy(log_probabilities(ensemble_probabilities(probs)))
        return to_numpy(log_mean_exp(log_probs))

    def member_gaussians(self, x, batch_size: int | None = None, verbose=0) -> tuple:
        """Members' means and standard deviations, each `(N, M, units)` float64 (Gaussian models only)."""
        self.require_gaussian()
        outputs = [np.asarray(out, np.float64) for _, out in self.member_outputs(x, batch_size, verbose, "regression")]
        members = np.concatenate(outputs, axis=1)
        units = members.shape[-1] // 2
        stds = members[..., units:]
        if (stds <= 0).any():
            raise ValueError(
                f"`{self.argument}` must predict positive standard deviations: a Gaussian output is [means, stds] "
                f"(e.g. softplus stds). Received: {int((stds <= 0).sum())} standard deviations <= 0 on `x`"
            )
        return members[..., :units], stds

    # -- member outputs, symbolic

    def wrapped_output_form(self) -> str:
        """The form of a single model's output `model(x)` (what a wrapper's last layer reads)."""
        return kinds.wrapped_output_form(self.models[0], self.from_logits)

    def symbolic_probabilities(self) -> tuple:
        """`(inputs, probabilities (N, K))` of a classifier ensemble, symbolic."""
        inputs = new_inputs(self.models[0])
        return inputs, Ensemble(self.models, self.forms, "probabilities", name="ensemble")(inputs)

    def symbolic_gaussian(self) -> tuple:
        """`(inputs, [mean, std] (N, 2 * units))` of a Gaussian ensemble, symbolic."""
        inputs = new_inputs(self.models[0])
        return inputs, Ensemble(self.models, ["gaussian"] * len(self.models), "gaussian", name="ensemble")(inputs)

    def symbolic_members(self) -> tuple:
        """`(inputs, members, forms)`: member outputs `(N, M, ...)` per output and their forms, symbolic."""
        flat = [keras.tree.flatten(f) for f in self.forms]
        if any(f != flat[0] for f in flat):
            raise ValueError(f"The models of a deep ensemble must have the same output forms. Received: {self.forms}")
        inputs = new_inputs(self.models[0])
        return inputs, Ensemble(self.models, self.forms, "members", name="ensemble")(inputs), self.forms[0]
