"""Split-conformal prediction sets (classifiers) and intervals (Gaussian heads).

Held-out calibration rows `(x, y)`, exchangeable with the test rows, give
nonconformity scores `s_1..s_n`; the threshold `q` is their
`ceil((n + 1)(1 - alpha))`-th smallest (the empirical quantile at level
`ceil((n + 1)(1 - alpha)) / n`). Then a test row's set (or interval) holds its true label (value)
with probability at least `1 - alpha`, marginally over calibration and test
draws, whatever the model. The model only decides how small the sets are.

Scores of class `c` for probabilities `p` (`(K,)`, the ensemble's mean
member probabilities):

- `"lac"`: `1 - p_c` (least ambiguous set-valued classifier; smallest sets
  on average).
- `"aps"` (non-randomized): `sum_j p_j [p_j >= p_c]`, the mass of every
  class at least as likely as `c` (adaptive sets: larger on hard inputs).
- `"raps"`: `aps + lam * max(0, rank_c - k_reg)` with
  `rank_c = #{j : p_j >= p_c}` (1 for the top class); defaults
  `lam=0.01`, `k_reg=5` (Angelopoulos et al.'s suggestion for ImageNet; for
  few classes set `k_reg` below K).

Sets always hold the most probable class (every class tied at the top):
`{c : score_c <= q}` can be empty (APS/RAPS when `max p > q`, LAC when
`max p < 1 - q`), and an empty set is no answer. Adding the top class only
enlarges a set, so the coverage guarantee stands; MAPIE and
torch-uncertainty do not return empty APS/RAPS sets either. Pass
`include_top_class=False` for the plain definition, which can be empty.

Intervals of a Gaussian head: per output unit, the score is
`|y - mean| / std` of the ensemble's moment-matched Gaussian, `q` that
unit's conformal quantile, and the interval `mean +- q * std`: each unit's
interval has the coverage.

`fit_prediction_sets` -> threshold / `with_prediction_sets` and
`fit_prediction_intervals` -> quantile / `with_prediction_intervals` follow
the fit/with pattern of `keras_mimo.calibration`: fit a number on held-out
data, then wrap the model into a `keras.Model` that predicts the sets or
intervals, saves as `.keras` and exports. The numpy functions
`class_scores`, `conformal_quantile` and `prediction_sets` work on
predictions you already have, with the same score function (`keras.ops`,
float32) the wrapper runs.
`fit_set_threshold` and `fit_interval_scale` are deprecated aliases.

References:
    Vovk et al., "Algorithmic learning in a random world", 2005; Sadinle et
    al., "Least ambiguous set-valued classifiers with bounded error levels",
    JASA 2019 (LAC); Romano et al., "Classification with valid and adaptive
    coverage", NeurIPS 2020 (APS); Angelopoulos et al., "Uncertainty sets for
    image classifiers using conformal prediction", ICLR 2021 (RAPS).
"""

import math
import numbers
import warnings

import keras
import numpy as np
from keras import ops

from keras_mimo._serialization import register
from keras_mimo._validation import check_alpha
from keras_mimo._validation import check_finite
from keras_mimo._validation import check_labels
from keras_mimo._validation import check_targets
from keras_mimo._validation import check_threshold
from keras_mimo._validation import check_thresholds
from keras_mimo.ensembles.layer_bases import Float32Layer
from keras_mimo.ensembles import ensemble_probabilities
from keras_mimo.ensembles import moment_matched
from keras_mimo.ensembles import split_gaussian
from keras_mimo.ensembles import to_numpy
from keras_mimo.ensembles.reading import EnsembleReader

__all__ = [
    "RAPS_DEFAULTS",
    "SCORES",
    "PredictionIntervals",
    "PredictionSets",
    "class_scores",
    "conformal_quantile",
    "fit_prediction_intervals",
    "fit_prediction_sets",
    "prediction_sets",
    "with_prediction_intervals",
    "with_prediction_sets",
]


RAPS_DEFAULTS = {"lam": 0.01, "k_reg": 5}
SCORES = ("lac", "aps", "raps")


def _check_score(score: str, score_args: dict) -> dict:
    """A conformal score's keyword arguments with defaults (`lam`, `k_reg` for RAPS), checked."""
    if score not in SCORES:
        raise ValueError(f"`score` must be one of {SCORES}. Received: score={score!r}")
    if score != "raps":
        if score_args:
            raise TypeError(f"score={score!r} takes no arguments; received {sorted(score_args)}.")
        return {}
    unknown = set(score_args) - set(RAPS_DEFAULTS)
    if unknown:
        raise TypeError(f"score='raps' takes `lam` and `k_reg`; received unknown {sorted(unknown)}.")
    args = {**RAPS_DEFAULTS, **score_args}
    lam, k_reg = args["lam"], args["k_reg"]
    if isinstance(lam, bool) or not isinstance(lam, numbers.Real) or not 0.0 <= float(lam) < math.inf:
        raise ValueError(f"`lam` must be a finite float >= 0. Received: lam={lam!r}")
    if isinstance(k_reg, bool) or not isinstance(k_reg, numbers.Integral) or k_reg < 0:
        raise ValueError(f"`k_reg` must be an int >= 0. Received: k_reg={k_reg!r}")
    return {"lam": float(lam), "k_reg": int(k_reg)}


def _class_scores(probs, score: str, lam: float, k_reg: int):
    """Every class's score (`keras.ops`, float32), `(N, K)` probabilities to `(N, K)`; arguments checked by the caller.

    APS and RAPS compare every pair of classes: memory `(N, K, K)`.
    """
    probs = ops.cast(probs, "float32")
    if score == "lac":
        return 1.0 - probs
    at_least = ops.cast(probs[:, None, :] >= probs[:, :, None], "float32")  # [n, c, j]: p_j >= p_c
    scores = ops.sum(probs[:, None, :] * at_least, axis=-1)
    if score == "raps":
        rank = ops.sum(at_least, axis=-1)
        scores = scores + float(lam) * ops.maximum(0.0, rank - float(k_reg))
    return scores


def class_scores(probs, score: str = "lac", **score_args) -> np.ndarray:
    """Every class's nonconformity score, `(N, K)` float64 (numpy).

    Args:
        probs: `(N, K)` class probabilities.
        score: one of `SCORES` (see the module docstring).
        **score_args: `lam`, `k_reg` for `"raps"`.
    """
    args = {**RAPS_DEFAULTS, **_check_score(score, score_args)}
    probs = check_finite(probs, "probs")
    if probs.ndim != 2:
        raise ValueError(f"`probs` must be (N, K) class probabilities. Received: shape {probs.shape}")
    return to_numpy(_class_scores(probs, score, **args))


def conformal_quantile(scores, alpha: float = 0.1) -> float:
    """The split-conformal threshold of calibration `scores` `(n,)`.

    The `ceil((n + 1)(1 - alpha))`-th smallest score, i.e. the empirical
    quantile at level `ceil((n + 1)(1 - alpha)) / n` (numpy's
    `method="inverted_cdf"`; numpy's `method="higher"` indexes
    `(n - 1) * level` and lands one score higher, more conservative than the
    guarantee needs). `+inf` (with a warning) when that rank exceeds `n`
    (too few calibration rows for `alpha`: every set holds every class).
    `scores` of any shape are pooled into one sample.
    """
    alpha = check_alpha(alpha)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1, 1)
    return float(_column_quantiles(scores, alpha)[0])


def _column_quantiles(scores, alpha: float) -> np.ndarray:
    """The conformal quantile of each column of `scores` `(n, d)`: `(d,)`; all `+inf` (one warning) if n is too few."""
    if not len(scores):
        raise ValueError("`scores` is empty: conformal calibration needs at least one row. Received: shape (0,)")
    if np.isnan(scores).any():
        raise ValueError(f"`scores` must not hold NaN. Received: {int(np.isnan(scores).sum())} NaN values")
    n = len(scores)
    rank = math.ceil((n + 1) * (1.0 - alpha) - 1e-9)
    if rank > n:
        warnings.warn(
            f"{n} calibration rows are too few for alpha={alpha}: the conformal threshold is +inf, "
            f"so every set holds every class (every interval is infinite). Use at least "
            f"{math.ceil(1.0 / alpha - 1.0)} rows.",
            stacklevel=3,
        )
        return np.full(scores.shape[1], math.inf)
    return np.sort(scores, axis=0)[rank - 1]


def _top_classes(probs):
    """`(N, K)` bool: the classes of highest probability in each row (every one of them when tied), float32."""
    probs = ops.cast(probs, "float32")
    return probs >= ops.max(probs, axis=-1, keepdims=True)


def prediction_sets(probs, threshold: float, score: str = "lac", include_top_class: bool = True, **score_args):
    """`(N, K)` bool: class `c` is in row `n`'s set when its score <= `threshold`.

    With `include_top_class` (the default) the most probable class is always
    in the set, so no set is empty (module docstring); `False` gives the
    plain `{c : score_c <= threshold}`.
    """
    threshold = check_threshold(threshold, "threshold")
    include_top_class = _check_bool(include_top_class, "include_top_class")
    sets = class_scores(probs, score, **score_args) <= threshold
    if include_top_class:
        sets |= to_numpy(_top_classes(np.asarray(probs))).astype(bool)
    return sets


def _check_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be True or False. Received: {name}={value!r}")
    return bool(value)


def _classifier(model, from_logits, step: str) -> EnsembleReader:
    """The model check of `fit_prediction_sets` / `with_prediction_sets` (one for the pair; `step`: "fit" or "with")."""
    return EnsembleReader(model, from_logits, argument="model").require_classifier(
        f"keras_mimo.conformal.{step}_prediction_intervals"
    )


def _gaussian(model, step: str) -> EnsembleReader:
    """The model check of `fit_prediction_intervals` / `with_prediction_intervals` (one for the pair)."""
    return EnsembleReader(model, argument="model").require_gaussian(f"keras_mimo.conformal.{step}_prediction_sets")


def fit_prediction_sets(
    model,
    x,
    y,
    alpha: float = 0.1,
    score: str = "lac",
    batch_size: int = 128,
    from_logits: bool | None = None,
    **score_args,
) -> float:
    """The split-conformal threshold of a classifier on held-out `(x, y)`.

    Args:
        model: a single-output classifier: a `MIMOModel`, a list of models (a
            deep ensemble), one model, or a model from `with_temperature`.
            `with_prediction_sets` accepts and refuses the same models.
        x, y: calibration inputs and integer (or one-hot) labels, held out
            from training and exchangeable with the test rows.
        alpha: miscoverage rate in (0, 1): sets hold the label with
            probability >= 1 - alpha.
        score: `"lac"`, `"aps"` or `"raps"` (module docstring).
        batch_size, from_logits: as in `keras_mimo.evaluate_ensemble`.
        **score_args: `lam`, `k_reg` for `"raps"`.

    Returns:
        The threshold `q` (float; `+inf` with a warning if there are too few
        rows), for `with_prediction_sets(model, q, score, **score_args)`.
    """
    return _fit_prediction_sets(model, x, y, alpha, score, batch_size, from_logits, score_args)


def _fit_prediction_sets(model, x, y, alpha, score, batch_size, from_logits, score_args) -> float:
    alpha = check_alpha(alpha)
    args = {**RAPS_DEFAULTS, **_check_score(score, score_args)}
    member_probs, _ = _classifier(model, from_logits, "fit").member_probabilities(x, batch_size)
    probs = ensemble_probabilities(member_probs)
    labels = check_labels(y, probs.shape[0], probs.shape[-1])
    scores = to_numpy(_class_scores(probs, score, **args))
    return float(_column_quantiles(scores[np.arange(len(labels)), labels][:, None], alpha)[0])


def fit_prediction_intervals(model, x, y, alpha: float = 0.1, batch_size: int = 128):
    """The split-conformal quantile `q` of a Gaussian head's scores on held-out `(x, y)`, one per unit.

    Per target unit, the scores `|y - mean| / std` of the ensemble's
    moment-matched Gaussian and their conformal quantile: each unit's
    interval `mean +- q * std` holds that unit's target with probability
    >= 1 - alpha (a unit whose std is under-estimated gets a larger `q`). A
    calibrated Gaussian gives `q` near the normal quantile (1.645 for
    alpha = 0.1). Too few rows for `alpha` (fewer than `1 / alpha - 1`,
    counted in rows, not rows times units) give `+inf` with a warning.

    Args:
        model: a single-output Gaussian regressor: a `MIMOModel` with a
            `"gaussian"` head, a list of models (a deep ensemble) or one
            model predicting `(N, 2 * units)`. `with_prediction_intervals`
            accepts and refuses the same models.
        x, y: calibration inputs and targets `(N, units)`.
        alpha: miscoverage rate in (0, 1).
        batch_size: prediction batch size.

    Returns:
        `q`: a float for a one-unit head, else a `(units,)` float64 array
        (one quantile per unit), for `with_prediction_intervals(model, q)`.
    """
    return _fit_prediction_intervals(model, x, y, alpha, batch_size)


def _fit_prediction_intervals(model, x, y, alpha, batch_size):
    alpha = check_alpha(alpha)
    mu, sigma = _gaussian(model, "fit").member_gaussians(x, batch_size)
    y = check_targets(y, mu.shape[-1], len(mu))
    mean, std = to_numpy(moment_matched(mu, sigma))
    quantiles = _column_quantiles(np.abs(y - mean) / std, alpha)
    return float(quantiles[0]) if len(quantiles) == 1 else quantiles


def _deprecated(old: str, new: str):
    warnings.warn(
        f"keras_mimo.conformal.{old} is deprecated and will be removed in 0.3.0: use {new}.",
        DeprecationWarning,
        stacklevel=3,
    )


def fit_set_threshold(model, x, y, alpha=0.1, score="lac", batch_size=128, from_logits=None, **score_args) -> float:
    """Deprecated alias of `fit_prediction_sets`."""
    _deprecated("fit_set_threshold", "fit_prediction_sets")
    return _fit_prediction_sets(model, x, y, alpha, score, batch_size, from_logits, score_args)


def fit_interval_scale(model, x, y, alpha=0.1, batch_size=128):
    """Deprecated alias of `fit_prediction_intervals`."""
    _deprecated("fit_interval_scale", "fit_prediction_intervals")
    return _fit_prediction_intervals(model, x, y, alpha, batch_size)


@register
class PredictionSets(Float32Layer):
    """Conformal prediction sets from class probabilities.

    Args:
        threshold: the conformal threshold (`fit_prediction_sets`), >= 0 or inf.
        score: `"lac"`, `"aps"` or `"raps"`.
        lam, k_reg: the RAPS penalty (ignored by the other scores).
        include_top_class: whether the most probable class is always in the
            set (the default: no set is empty; module docstring).

    Input shape: `(N, K)` probabilities. Output shape: `(N, K)` float32,
    1.0 for the classes in the set. APS/RAPS compare every pair of classes:
    memory `(N, K, K)`. Computes in float32 under any dtype policy
    (`keras_mimo.ensembles.Float32Layer`).
    """

    def __init__(
        self,
        threshold: float,
        score: str = "lac",
        lam: float = RAPS_DEFAULTS["lam"],
        k_reg: int = RAPS_DEFAULTS["k_reg"],
        include_top_class: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.threshold = check_threshold(threshold, "threshold")
        args = _check_score(score, {"lam": lam, "k_reg": k_reg} if score == "raps" else {})
        self.score = score
        self.lam, self.k_reg = args.get("lam", float(lam)), args.get("k_reg", int(k_reg))
        self.include_top_class = _check_bool(include_top_class, "include_top_class")

    def call(self, probs):
        probs = ops.cast(probs, "float32")
        sets = _class_scores(probs, self.score, self.lam, self.k_reg) <= self.threshold
        if self.include_top_class:
            sets = ops.logical_or(sets, _top_classes(probs))
        return ops.cast(sets, "float32")

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "threshold": self.threshold,
            "score": self.score,
            "lam": self.lam,
            "k_reg": self.k_reg,
            "include_top_class": self.include_top_class,
        }


@register
class PredictionIntervals(Float32Layer):
    """`[mean - quantile * std, mean + quantile * std]` from a Gaussian output `[means, stds]`.

    Args:
        quantile: `q` from `fit_prediction_intervals`: a float >= 0 (or inf)
            for every unit, or a sequence of them, one per unit.

    Input shape: `(N, 2 * units)`; output shape: `(N, 2 * units)`, lower
    bounds then upper bounds. Computes in float32 under any dtype policy
    (`keras_mimo.ensembles.Float32Layer`).
    """

    def __init__(self, quantile, **kwargs):
        super().__init__(**kwargs)
        self.quantile = check_thresholds(quantile, "quantile")

    def build(self, input_shape):
        if input_shape[-1] is not None and input_shape[-1] % 2:
            raise ValueError(
                "`inputs` of PredictionIntervals must be a Gaussian output [means, stds] with 2 * units columns. "
                f"Received: inputs of shape {tuple(input_shape)}"
            )
        _check_units(self.quantile, input_shape[-1])

    def call(self, inputs):
        mean, std = split_gaussian(ops.cast(inputs, "float32"), "inputs")
        quantile = ops.convert_to_tensor(np.asarray(self.quantile, "float32"))
        return ops.concatenate([mean - quantile * std, mean + quantile * std], axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        quantile = list(self.quantile) if isinstance(self.quantile, tuple) else self.quantile
        return {**super().get_config(), "quantile": quantile}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "scale" in config:  # files of the previous release
            config["quantile"] = config.pop("scale")
        return cls(**config)


def _check_units(quantile, columns):
    """Raises unless a per-unit `quantile` has one value per unit of a `(N, columns)` Gaussian output."""
    if isinstance(quantile, tuple) and columns is not None and len(quantile) != columns // 2:
        raise ValueError(
            f"`quantile` must be one float, or one per unit of the Gaussian output ({columns // 2} units, as "
            f"fit_prediction_intervals returns). Received: quantile={quantile} ({len(quantile)} values)"
        )


def with_prediction_sets(
    model,
    threshold: float,
    score: str = "lac",
    from_logits: bool | None = None,
    include_top_class: bool = True,
    **score_args,
) -> keras.Model:
    """`model` predicting conformal sets: `(N, K)` 0/1 membership.

    Args:
        model: what `fit_prediction_sets` took (the same model; the pair
            accepts and refuses the same models, with the same message).
        threshold: from `fit_prediction_sets` (with the same `score`).
        score, **score_args: as in `fit_prediction_sets`.
        from_logits: as in `fit_prediction_sets`, for plain models.
        include_top_class: whether the most probable class is always in the
            set (the default: no set is empty; module docstring).

    Returns:
        A functional `keras.Model` with `model`'s inputs; saves and loads as
        `.keras` and exports; computes the sets in float32 under a mixed
        policy.
    """
    threshold = check_threshold(threshold, "threshold")
    args = _check_score(score, score_args)
    include_top_class = _check_bool(include_top_class, "include_top_class")
    ensemble = _classifier(model, from_logits, "with")
    inputs, probs = ensemble.symbolic_probabilities()
    layer = PredictionSets(threshold, score, **args, include_top_class=include_top_class, name="prediction_sets")
    return keras.Model(inputs, layer(probs), name=f"{ensemble.name}_sets")


def with_prediction_intervals(model, quantile=None, **deprecated) -> keras.Model:
    """A Gaussian `model` predicting `(N, 2 * units)` = `[mean - q * std, mean + q * std]`.

    `quantile` `q` from `fit_prediction_intervals`: one float for every
    unit, or one per unit (`scale=` is its deprecated name); the mean and
    std are the ensemble's moment-matched Gaussian. `model`: what
    `fit_prediction_intervals` took (the pair accepts and refuses the same
    models, with the same message). Saves and loads as `.keras` and exports.
    """
    if set(deprecated) - {"scale"}:
        raise TypeError(f"with_prediction_intervals got unexpected keyword arguments {sorted(deprecated)}.")
    if "scale" in deprecated:
        _deprecated("with_prediction_intervals(scale=...)", "with_prediction_intervals(quantile=...)")
        quantile = deprecated["scale"]
    quantile = check_thresholds(quantile, "quantile")
    ensemble = _gaussian(model, "with")
    inputs, gaussian = ensemble.symbolic_gaussian()
    _check_units(quantile, gaussian.shape[-1])
    intervals = PredictionIntervals(quantile, name="prediction_intervals")(gaussian)
    return keras.Model(inputs, intervals, name=f"{ensemble.name}_intervals")
