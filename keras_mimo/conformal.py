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

Intervals of a Gaussian head: the score is `|y - mean| / std` of the
ensemble's moment-matched Gaussian; the interval is `mean +- q * std`.

`fit_set_threshold` / `with_prediction_sets` and `fit_interval_scale` /
`with_prediction_intervals` follow the fit/with pattern of
`keras_mimo.calibration`: fit on held-out data, then wrap the model into a
`keras.Model` that predicts the sets or intervals, saves as `.keras` and
exports. The numpy functions `class_scores`, `conformal_quantile` and
`prediction_sets` work on predictions you already have.

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

from keras_mimo import _ensemble_graph
from keras_mimo._serialization import register
from keras_mimo.evaluation.evaluate import _checked_labels
from keras_mimo.evaluation.predictions import member_predictions
from keras_mimo.evaluation.regression import _check_targets
from keras_mimo.evaluation.regression import member_gaussians
from keras_mimo.evaluation.regression import moment_matched

__all__ = [
    "SCORES",
    "PredictionIntervals",
    "PredictionSets",
    "class_scores",
    "conformal_quantile",
    "fit_interval_scale",
    "fit_set_threshold",
    "prediction_sets",
    "with_prediction_intervals",
    "with_prediction_sets",
]

SCORES = ("lac", "aps", "raps")
RAPS_DEFAULTS = {"lam": 0.01, "k_reg": 5}


def _check_score(score: str, score_args: dict) -> dict:
    """The score's keyword arguments with defaults, validated."""
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
    if isinstance(lam, bool) or not isinstance(lam, numbers.Real) or not (0.0 <= float(lam) < math.inf):
        raise ValueError(f"`lam` must be a finite float >= 0. Received: lam={lam!r}")
    if isinstance(k_reg, bool) or not isinstance(k_reg, numbers.Integral) or k_reg < 0:
        raise ValueError(f"`k_reg` must be an int >= 0. Received: k_reg={k_reg!r}")
    return {"lam": float(lam), "k_reg": int(k_reg)}


def _check_alpha(alpha) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not (0.0 < float(alpha) < 1.0):
        raise ValueError(f"`alpha` (the miscoverage rate) must be a float in (0, 1). Received: alpha={alpha!r}")
    return float(alpha)


def _check_threshold(value, name: str) -> float:
    """A non-negative float or +inf (a calibration set too small for alpha)."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value) or value < 0:
        raise ValueError(f"`{name}` must be a float >= 0 (e.g. from fit_*). Received: {name}={value!r}")
    return float(value)


def class_scores(probs, score: str = "lac", **score_args) -> np.ndarray:
    """Every class's nonconformity score, `(N, K)` float64 (numpy).

    Args:
        probs: `(N, K)` class probabilities.
        score: one of `SCORES` (see the module docstring).
        **score_args: `lam`, `k_reg` for `"raps"`.
    """
    args = _check_score(score, score_args)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"`probs` must be (N, K) class probabilities. Received shape {probs.shape}.")
    if score == "lac":
        return 1.0 - probs
    at_least = probs[:, None, :] >= probs[:, :, None]  # [n, c, j]: p_j >= p_c
    scores = np.sum(probs[:, None, :] * at_least, axis=-1)
    if score == "raps":
        rank = at_least.sum(-1)
        scores = scores + args["lam"] * np.maximum(0, rank - args["k_reg"])
    return scores


def conformal_quantile(scores, alpha: float = 0.1) -> float:
    """The split-conformal threshold of calibration `scores` `(n,)`.

    The `ceil((n + 1)(1 - alpha))`-th smallest score, i.e. the empirical
    quantile at level `ceil((n + 1)(1 - alpha)) / n` (numpy's
    `method="inverted_cdf"`; numpy's `method="higher"` indexes
    `(n - 1) * level` and lands one score higher, more conservative than the
    guarantee needs). `+inf` (with a warning) when that rank exceeds `n`
    (too few calibration rows for `alpha`: every set then holds every class).
    """
    alpha = _check_alpha(alpha)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if not len(scores):
        raise ValueError("`scores` is empty: conformal calibration needs at least one row.")
    if np.isnan(scores).any():
        raise ValueError(f"`scores` holds {int(np.isnan(scores).sum())} NaN values.")
    n = len(scores)
    rank = math.ceil((n + 1) * (1.0 - alpha) - 1e-9)
    if rank > n:
        warnings.warn(
            f"{n} calibration rows are too few for alpha={alpha}: the conformal threshold is +inf, "
            f"so every set holds every class (every interval is infinite). Use at least "
            f"{math.ceil(1.0 / alpha - 1.0)} rows.",
            stacklevel=2,
        )
        return math.inf
    return float(np.sort(scores)[rank - 1])


def prediction_sets(probs, threshold: float, score: str = "lac", **score_args) -> np.ndarray:
    """`(N, K)` bool: class `c` is in row `n`'s set when its score <= `threshold`."""
    threshold = _check_threshold(threshold, "threshold")
    return class_scores(probs, score, **score_args) <= threshold


def _ensemble_probabilities(model, x, batch_size, from_logits):
    probs, _ = member_predictions(model, x, batch_size, from_logits, verbose=0)
    return probs.mean(1)


def fit_set_threshold(
    model, x, y, alpha: float = 0.1, score: str = "lac", batch_size: int = 128,
    from_logits: bool | None = None, **score_args,
) -> float:
    """The split-conformal threshold of a classifier on held-out `(x, y)`.

    Args:
        model: a classifier `MIMOModel`, a list of models (a deep ensemble),
            one model, or a model from `with_temperature`.
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
    alpha = _check_alpha(alpha)
    _check_score(score, score_args)
    _ensemble_graph.check_classifier(model, "fit_set_threshold", "keras_mimo.conformal.fit_interval_scale")
    probs = _ensemble_probabilities(model, x, batch_size, from_logits)
    labels = _checked_labels(y, len(probs), probs.shape[-1])
    scores = class_scores(probs, score, **score_args)[np.arange(len(labels)), labels]
    return conformal_quantile(scores, alpha)


def fit_interval_scale(model, x, y, alpha: float = 0.1, batch_size: int = 128) -> float:
    """The split-conformal scale `q` of a Gaussian head on held-out `(x, y)`.

    Scores `|y - mean| / std` of the ensemble's moment-matched Gaussian (per
    target unit, so each unit's interval has the coverage); `q` is their
    conformal quantile. A calibrated Gaussian gives `q` near the normal
    quantile (1.645 for alpha = 0.1).

    Args:
        model: a `MIMOModel` with a `"gaussian"` head, a list of models (a
            deep ensemble) or one model predicting `(N, 2 * units)`.
        x, y: calibration inputs and targets `(N, units)`.
        alpha: miscoverage rate in (0, 1).
    """
    alpha = _check_alpha(alpha)
    if not _ensemble_graph.is_gaussian(model):
        first = model[0] if isinstance(model, (list, tuple)) and model else model
        if hasattr(first, "ensemble_method") or _ensemble_graph.output_form(first, None) != "mean":
            raise ValueError(
                "fit_interval_scale needs a Gaussian (regression) head, ensemble_method='gaussian'; "
                "this is a classifier: use keras_mimo.conformal.fit_set_threshold."
            )
    mu, sigma = member_gaussians(model, x, batch_size, verbose=0)
    y = _check_targets(y, mu.shape[-1])
    if len(y) != len(mu):
        raise ValueError(f"Got {len(mu)} predictions but {len(y)} targets: one target row per example.")
    mean, std = moment_matched(mu, sigma)
    return conformal_quantile(np.abs(y - mean) / std, alpha)


@register
class PredictionSets(keras.layers.Layer):
    """Conformal prediction sets from class probabilities.

    Args:
        threshold: the conformal threshold (`fit_set_threshold`), >= 0 or inf.
        score: `"lac"`, `"aps"` or `"raps"`.
        lam, k_reg: the RAPS penalty (ignored by the other scores).

    Input shape: `(N, K)` probabilities. Output shape: `(N, K)` float32,
    1.0 for the classes in the set. APS/RAPS compare every pair of classes:
    memory `(N, K, K)`.
    """

    def __init__(self, threshold: float, score: str = "lac", lam: float = 0.01, k_reg: int = 5, **kwargs):
        super().__init__(**kwargs)
        self.threshold = _check_threshold(threshold, "threshold")
        args = _check_score(score, {"lam": lam, "k_reg": k_reg} if score == "raps" else {})
        self.score = score
        self.lam, self.k_reg = args.get("lam", float(lam)), args.get("k_reg", int(k_reg))

    def call(self, probs):
        probs = ops.cast(probs, "float32")
        if self.score == "lac":
            scores = 1.0 - probs
        else:
            at_least = ops.cast(probs[:, None, :] >= probs[:, :, None], "float32")
            scores = ops.sum(probs[:, None, :] * at_least, axis=-1)
            if self.score == "raps":
                rank = ops.sum(at_least, axis=-1)
                scores = scores + self.lam * ops.maximum(0.0, rank - self.k_reg)
        return ops.cast(scores <= self.threshold, "float32")

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold, "score": self.score,
                "lam": self.lam, "k_reg": self.k_reg}


@register
class PredictionIntervals(keras.layers.Layer):
    """`[mean - scale * std, mean + scale * std]` from a Gaussian output `[means, stds]`.

    Input shape: `(N, 2 * units)`; output shape: `(N, 2 * units)`, lower
    bounds then upper bounds.
    """

    def __init__(self, scale: float, **kwargs):
        super().__init__(**kwargs)
        self.scale = _check_threshold(scale, "scale")

    def call(self, inputs):
        inputs = ops.cast(inputs, "float32")
        units = inputs.shape[-1] // 2
        mean, std = inputs[..., :units], inputs[..., units:]
        return ops.concatenate([mean - self.scale * std, mean + self.scale * std], axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def with_prediction_sets(
    model, threshold: float, score: str = "lac", from_logits: bool | None = None, **score_args
) -> keras.Model:
    """`model` predicting conformal sets: `(N, K)` 0/1 membership.

    Args:
        model: what `fit_set_threshold` took (the same model).
        threshold: from `fit_set_threshold` (with the same `score`).
        score, **score_args: as in `fit_set_threshold`.
        from_logits: as in `fit_set_threshold`, for plain models.

    Returns:
        A functional `keras.Model` with `model`'s inputs; saves and loads as
        `.keras` and exports.
    """
    threshold = _check_threshold(threshold, "threshold")
    args = _check_score(score, score_args)
    inputs, probs = _ensemble_graph.ensemble_probabilities(model, from_logits)
    sets = PredictionSets(threshold, score, **args, name="prediction_sets")(probs)
    return keras.Model(inputs, sets, name=f"{_ensemble_graph.name(model)}_sets")


def with_prediction_intervals(model, scale: float) -> keras.Model:
    """A Gaussian `model` predicting `(N, 2 * units)` = `[mean - scale * std, mean + scale * std]`.

    `scale` from `fit_interval_scale`; the mean and std are the ensemble's
    moment-matched Gaussian. Saves and loads as `.keras` and exports.
    """
    scale = _check_threshold(scale, "scale")
    inputs, gaussian = _ensemble_graph.ensemble_gaussian(model)
    intervals = PredictionIntervals(scale, name="prediction_intervals")(gaussian)
    return keras.Model(inputs, intervals, name=f"{_ensemble_graph.name(model)}_intervals")
