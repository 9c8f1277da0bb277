"""The bad-input battery: every public callable gets the same kinds of bad input.

One table (`ROWS`), one test (`test_bad_input`). A row is a public callable,
the argument it gets wrong, the kind of bad value, and the outcome the call
must end in: either a `ValueError` / `TypeError` whose message names the
argument, or the right answer (checked against the same call with good
input). Never a backend error from inside the package, never a silent
number (NaN output, a wrong shape).

Kinds: `nan` / `inf` in `x` and `y`; `empty` arrays; `mismatched` lengths;
numpy scalars (`np_int64`, `np_float32`) for int and float arguments, which
must be accepted and give the same answer as Python's `int` / `float`;
`zero`, `negative` and `fractional` sizes, counts and epochs;
`ensemble_size_1`; `channels_first` images; `multi_output` models; `list` of
models (a deep ensemble); each `mixed_float16` / `mixed_bfloat16` policy
where a layer or wrapper is built; `sequence` predictions `(N, T, K)`.

The keras.ops building blocks (`keras_mimo.ensembles`,
`.mixing`, `.batching`) run inside traced model graphs, where a value check
cannot raise: for them a NaN row in gives a NaN row out, and every other row
keeps its right answer (checked). Everything that returns numbers to the
user (metrics, evaluation, calibration and conformal fits) raises instead.

`test_every_public_name_has_a_row` walks `keras_mimo.__all__` and each
public submodule's `__all__`: a public class or function without a row fails.
"""

import dataclasses
import functools
import importlib
import inspect
import json
import re
import types
import warnings
from collections.abc import Callable

import keras
import numpy as np
import pytest

import keras_mimo
from keras_mimo import batching
from keras_mimo import calibration
from keras_mimo import conformal
from keras_mimo import ensembles
from keras_mimo import evaluation
from keras_mimo import losses
from keras_mimo import metrics
from keras_mimo import mixing
from keras_mimo import uncertainty
from keras_mimo.applications import VirtualBatchNormalization
from keras_mimo.applications import WarmUpStepDecay
from keras_mimo.applications import wide_resnet

N, M, K, T = 12, 2, 3, 4
POLICIES = ("mixed_float16", "mixed_bfloat16")


# -- data: fixed, tiny


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


_rng = np.random.default_rng(0)
MEMBERS = _softmax(_rng.normal(0, 1.5, (N, M, K))).astype("float32")  # (N, M, K)
PROBS = MEMBERS.mean(1)  # (N, K)
LABELS = np.arange(N) % K  # every class
CONF = PROBS.max(-1).astype("float64")
CORRECT = PROBS.argmax(-1) == LABELS
IN_S = _rng.random(N)
OUT_S = _rng.random(N) + 0.3
SEQ_PROBS = _softmax(_rng.normal(0, 1.5, (N, T, K))).astype("float32")  # (N, T, K)
SEQ_LABELS = _rng.integers(0, K, (N, T))
SEQ_MEMBERS = _softmax(_rng.normal(0, 1.5, (N, M, T, K))).astype("float32")  # (N, M, T, K)
G_TRUE = _rng.normal(0, 1, (N, 1)).astype("float32")
G_PRED = np.concatenate([_rng.normal(0, 1, (N, 1)), _rng.uniform(0.5, 1.5, (N, 1))], -1).astype("float32")
G_MEMBERS = np.concatenate([_rng.normal(0, 1, (N, M, 1)), _rng.uniform(0.5, 1.5, (N, M, 1))], -1).astype("float32")
X = _rng.normal(0, 1, (N, 4)).astype("float32")
Y = LABELS.astype("int32")
Y_REG = _rng.normal(0, 1, (N, 1)).astype("float32")
IMAGES = _rng.random((N, 8, 8, 3)).astype("float32")
UINT8 = (IMAGES * 255).astype("uint8")


def nan(a, index=0):
    """A float copy of `a` with NaN at `index` (the first row by default)."""
    a = np.array(a, dtype="float32" if np.asarray(a).dtype == np.float32 else "float64")
    a[index] = np.nan
    return a


def inf(a, index=0):
    a = np.array(a, dtype="float32" if np.asarray(a).dtype == np.float32 else "float64")
    a[index] = np.inf
    return a


def empty(a):
    return np.asarray(a)[:0]


def np_(tensor):
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def quiet(fn, *args, **kwargs):
    """`fn(...)` with its warnings (deprecations, a temperature at a bound) silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def under(policy, fn):
    """`fn()` under a global dtype policy (the conftest fixture restores float32 after each test)."""
    keras.config.set_dtype_policy(policy)
    try:
        return fn()
    finally:
        keras.config.set_dtype_policy("float32")


# -- tiny models, built once per module with fixed weights


def _seeded(fn):
    @functools.wraps(fn)
    def build(*args, **kwargs):
        keras.utils.set_random_seed(1)
        return fn(*args, **kwargs)

    return build


@_seeded
def mlp(ensemble_size=M, activation="softmax", units=K, method=None, hidden="relu", **model_kwargs):
    inputs = keras.Input((4,))
    x = keras_mimo.MIMOInput(ensemble_size)(inputs)
    x = keras.layers.Dense(8, activation=hidden)(x)
    outputs = keras_mimo.MIMOHead(units, ensemble_size, activation=activation, ensemble_method=method)(x)
    return keras_mimo.MIMOModel(inputs, outputs, **model_kwargs)


@_seeded
def two_headed():
    inputs = keras.Input((4,))
    x = keras_mimo.MIMOInput(M)(inputs)
    x = keras.layers.Dense(8, activation="relu")(x)
    a = keras_mimo.MIMOHead(K, M, activation="softmax", name="a")(x)
    b = keras_mimo.MIMOHead(1, M, ensemble_method="gaussian", name="b")(x)
    return keras_mimo.MIMOModel(inputs, [a, b])


@_seeded
def cnn(data_format="channels_last", ensemble_size=M):
    shape = (8, 8, 3) if data_format == "channels_last" else (3, 8, 8)
    inputs = keras.Input(shape)
    layout = {} if data_format == "channels_last" else {"data_format": data_format}
    x = keras_mimo.MIMOInput(ensemble_size, **layout)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", data_format=data_format)(x)
    x = keras.layers.GlobalAveragePooling2D(data_format=data_format)(x)
    outputs = keras_mimo.MIMOHead(K, ensemble_size, activation="softmax")(x)
    return keras_mimo.MIMOModel(inputs, outputs)


@_seeded
def plain(activation="softmax", units=K):
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(units, activation=activation)(keras.layers.Dense(8)(inputs)))


@_seeded
def plain_gaussian(std=None):
    inputs = keras.Input((4,))
    if std is None:  # a positive std column
        mean = keras.layers.Dense(1)(inputs)
        scale = keras.layers.Dense(1, activation="softplus")(inputs)
        return keras.Model(inputs, keras.layers.Concatenate()([mean, scale]))
    head = keras.layers.Dense(2, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant([0.0, std]))
    return keras.Model(inputs, head(inputs))


@_seeded
def plain_cnn_channels_first():
    inputs = keras.Input((3, 8, 8))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", data_format="channels_first")(inputs)
    x = keras.layers.GlobalAveragePooling2D(data_format="channels_first")(x)
    return keras.Model(inputs, keras.layers.Dense(K, activation="softmax")(x))


class Models:
    """The module's models, built on first use."""

    clf = functools.cached_property(lambda self: mlp())
    clf1 = functools.cached_property(lambda self: mlp(1))
    logits = functools.cached_property(lambda self: mlp(activation=None))
    gauss = functools.cached_property(lambda self: mlp(activation=None, units=1, method="gaussian"))
    gauss1 = functools.cached_property(lambda self: mlp(1, activation=None, units=1, method="gaussian"))
    multi = functools.cached_property(lambda self: two_headed())
    plain = functools.cached_property(lambda self: plain())
    plain_gauss = functools.cached_property(lambda self: plain_gaussian())
    negative_std = functools.cached_property(lambda self: plain_gaussian(std=-1.0))
    cnn = functools.cached_property(lambda self: cnn())


@pytest.fixture(scope="module")
def ctx():
    return Models()


# -- outcomes


def _leaves(value):
    """The numbers of a result: dicts, lists and tuples walked, None and strings skipped."""
    if isinstance(value, dict):
        return [leaf for key in value for leaf in _leaves(value[key])]
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _leaves(item)]
    return [] if value is None or isinstance(value, str) else [value]


def _close(actual, expected, rtol=1e-5, atol=1e-6, path="result"):
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected), f"{path}: keys {actual!r} vs {expected!r}"
        for key in expected:
            _close(actual[key], expected[key], rtol, atol, f"{path}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert isinstance(actual, (list, tuple)) and len(actual) == len(expected), f"{path}: {actual!r}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            _close(a, e, rtol, atol, f"{path}[{i}]")
    elif expected is None or isinstance(expected, (str, bool)):
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"
    else:
        a, e = np_(actual), np_(expected)
        assert a.shape == e.shape, f"{path}: shape {a.shape} != {e.shape}"
        np.testing.assert_allclose(a.astype("float64"), e.astype("float64"), rtol=rtol, atol=atol, err_msg=path)


def same_as(reference, rtol=1e-5, atol=1e-6):
    """The right answer: equal to `reference(ctx)` (the call with good input)."""

    def check(result, ctx):
        _close(result, reference(ctx), rtol, atol)

    check.__name__ = "same_as"
    return check


def shape_is(*shape):
    def check(result, ctx):
        assert tuple(np_(result).shape) == shape, f"shape {np_(result).shape} != {shape}"

    return check


def nan_row_only(reference, row=0):
    """A graph op: the NaN input row gives a NaN output row; every other row equals `reference(ctx)`'s."""

    def check(result, ctx):
        actual, expected = np_(result).astype("float64"), np_(reference(ctx)).astype("float64")
        assert actual.shape == expected.shape, (actual.shape, expected.shape)
        assert np.isnan(actual[row]).any(), f"row {row} should be NaN: {actual[row]}"
        others = np.delete(np.arange(len(actual)), row)
        np.testing.assert_allclose(actual[others], expected[others], rtol=1e-5, atol=1e-6)

    return check


def is_(value):
    def check(result, ctx):
        assert result == value, f"{result!r} != {value!r}"

    return check


def finite(result, ctx=None):
    """Every number in the result is finite (the minimal right-answer check of a built wrapper)."""
    leaves = _leaves(result)
    assert leaves, result
    for leaf in leaves:
        assert np.all(np.isfinite(np_(leaf).astype("float64"))), f"not finite: {leaf}"


def json_config(layer):
    """The layer's config, as JSON (numpy scalars must not leak into it): saving works."""
    return json.loads(json.dumps(layer.get_config()))


@dataclasses.dataclass(frozen=True)
class Row:
    name: str  # the public callable, dotted under keras_mimo (e.g. "metrics.auroc")
    arg: str  # the bad argument
    kind: str  # the kind of bad value
    call: Callable  # ctx -> result
    outcome: object  # ValueError / TypeError (the message names `arg`), or a check(result, ctx)

    @property
    def id(self):
        return f"{self.name}[{self.arg}:{self.kind}]"


# Rows of other modules' public names that fail today, each with what happens now: strict, so a fix
# makes the row XPASS and fail until its entry is removed here. An entry is `row id: reason`, or
# `row id: (reason, the backends where it fails)`.
XFAIL: dict = {}


def row(name, arg, kind, call, outcome, large=False):
    r = Row(name, arg, kind, call, outcome)
    marks = [pytest.mark.large] if large else []
    reason, backends = XFAIL[r.id] if isinstance(XFAIL.get(r.id), tuple) else (XFAIL.get(r.id), None)
    if reason and (backends is None or keras.backend.backend() in backends):
        marks.append(pytest.mark.xfail(strict=True, reason=reason))
    return pytest.param(r, id=r.id, marks=marks)


def names(arg: str) -> str:
    """The pattern of a message naming `arg`: `arg` in backticks or `arg=`; longer names as a word."""
    escaped = re.escape(arg)
    return rf"`{escaped}`|\b{escaped}=" if len(arg) <= 2 else rf"\b{escaped}\b"


ROWS = []


# -- keras_mimo.metrics: diversity and uncertainty of member probabilities (numpy)


def _unprepared(**kwargs):
    raise RuntimeError("not prepared")


DataUnavailable = keras_mimo.datasets.DataUnavailableError


def _np_entropy(probs):
    """The numpy reference of `ensembles.entropy` (probabilities floored at 1e-30 before the log)."""
    return -(probs * np.log(np.maximum(probs, 1e-30))).sum(-1)


def _np_mutual_information(members):
    """The numpy reference of `ensembles.mutual_information`: `(N, M, ..., K)` to `(N, ...)`."""
    return np.maximum(_np_entropy(members.mean(1)) - _np_entropy(members).mean(1), 0.0)


def _flat_members(fn, members=SEQ_MEMBERS):
    """`fn` over every sequence position as an example: `(N, M, T, K)` to `(N * T, M, K)`."""
    return fn(np.moveaxis(members, 2, 1).reshape(-1, members.shape[1], members.shape[-1]))


for _fn in ("disagreement", "average_kl", "cosine_similarity"):
    _f = getattr(metrics, _fn)
    ROWS += [
        row(f"metrics.{_fn}", "probs", "nan", lambda c, f=_f: f(nan(MEMBERS)), ValueError),
        row(f"metrics.{_fn}", "probs", "inf", lambda c, f=_f: f(inf(MEMBERS)), ValueError),
        row(f"metrics.{_fn}", "probs", "no_member_axis", lambda c, f=_f: f(PROBS), ValueError),
        row(
            f"metrics.{_fn}", "probs", "list", lambda c, f=_f: f(MEMBERS.tolist()), same_as(lambda c, f=_f: f(MEMBERS))
        ),
    ]
for _fn in ("disagreement", "average_kl", "cosine_similarity"):
    _f = getattr(metrics, _fn)
    ROWS += [
        row(f"metrics.{_fn}", "probs", "empty", lambda c, f=_f: f(empty(MEMBERS)), ValueError),
        row(f"metrics.{_fn}", "probs", "ensemble_size_1", lambda c, f=_f: f(MEMBERS[:, :1]), is_(None)),
        row(
            f"metrics.{_fn}",
            "probs",
            "sequence",
            lambda c, f=_f: f(SEQ_MEMBERS),
            same_as(lambda c, f=_f: _flat_members(f)),
        ),
    ]


# -- keras_mimo.metrics: likelihood, calibration (streaming Keras metrics and their functions)


def stream(metric, y_true, y_pred, sample_weight=None):
    metric.update_state(y_true, y_pred, sample_weight=sample_weight)
    return float(np_(metric.result()))


for _fn in ("negative_log_likelihood", "brier_score"):
    _f = getattr(metrics, _fn)
    ROWS += [
        row(f"metrics.{_fn}", "y_pred", "nan", lambda c, f=_f: f(LABELS, nan(PROBS)), ValueError),
        row(f"metrics.{_fn}", "y_pred", "inf", lambda c, f=_f: f(LABELS, inf(PROBS)), ValueError),
        row(
            f"metrics.{_fn}",
            "y_pred",
            "inf_logits",
            lambda c, f=_f: f(LABELS, inf(PROBS), from_logits=True),
            ValueError,
        ),
        row(f"metrics.{_fn}", "y_true", "nan", lambda c, f=_f: f(nan(LABELS), PROBS), ValueError),
        row(f"metrics.{_fn}", "y_true", "mismatched", lambda c, f=_f: f(LABELS[:-1], PROBS), ValueError),
        row(f"metrics.{_fn}", "y_true", "empty", lambda c, f=_f: f(empty(LABELS), empty(PROBS)), shape_is(0)),
        row(
            f"metrics.{_fn}",
            "y_pred",
            "sequence",
            lambda c, f=_f: f(SEQ_LABELS, SEQ_PROBS),
            same_as(lambda c, f=_f: np_(f(SEQ_LABELS.reshape(-1), SEQ_PROBS.reshape(-1, K))).reshape(N, T)),
        ),
    ]
for _cls, _fn in (("NegativeLogLikelihood", "negative_log_likelihood"), ("BrierScore", "brier_score")):
    _c, _f = getattr(metrics, _cls), getattr(metrics, _fn)
    ROWS += [
        row(f"metrics.{_cls}", "y_pred", "nan", lambda c, k=_c: stream(k(), LABELS, nan(PROBS)), ValueError),
        row(f"metrics.{_cls}", "y_true", "nan", lambda c, k=_c: stream(k(), nan(LABELS), PROBS), ValueError),
        row(f"metrics.{_cls}", "y_true", "mismatched", lambda c, k=_c: stream(k(), LABELS[:-1], PROBS), ValueError),
        row(
            f"metrics.{_cls}",
            "sample_weight",
            "nan",
            lambda c, k=_c: stream(k(), LABELS, PROBS, nan(np.ones(N))),
            ValueError,
        ),
        row(
            f"metrics.{_cls}",
            "y_pred",
            "sequence",
            lambda c, k=_c: stream(k(), SEQ_LABELS, SEQ_PROBS),
            same_as(lambda c, f=_f: np_(f(SEQ_LABELS.reshape(-1), SEQ_PROBS.reshape(-1, K))).mean()),
        ),
    ]

_ece = metrics.ExpectedCalibrationError
ROWS += [
    row("metrics.ExpectedCalibrationError", "num_bins", "zero", lambda c: _ece(num_bins=0), ValueError),
    row("metrics.ExpectedCalibrationError", "num_bins", "negative", lambda c: _ece(num_bins=-1), ValueError),
    row("metrics.ExpectedCalibrationError", "num_bins", "fractional", lambda c: _ece(num_bins=2.5), TypeError),
    row(
        "metrics.ExpectedCalibrationError",
        "num_bins",
        "np_int64",
        lambda c: (stream(_ece(num_bins=np.int64(5)), LABELS, PROBS), json_config(_ece(num_bins=np.int64(5)))),
        same_as(lambda c: (stream(_ece(num_bins=5), LABELS, PROBS), json_config(_ece(num_bins=5)))),
    ),
    row("metrics.ExpectedCalibrationError", "y_pred", "nan", lambda c: stream(_ece(), LABELS, nan(PROBS)), ValueError),
    row("metrics.ExpectedCalibrationError", "y_pred", "inf", lambda c: stream(_ece(), LABELS, inf(PROBS)), ValueError),
    row("metrics.ExpectedCalibrationError", "y_true", "nan", lambda c: stream(_ece(), nan(LABELS), PROBS), ValueError),
    row(
        "metrics.ExpectedCalibrationError",
        "y_true",
        "mismatched",
        lambda c: stream(_ece(), LABELS[:-1], PROBS),
        ValueError,
    ),
    row(
        "metrics.ExpectedCalibrationError",
        "sample_weight",
        "nan",
        lambda c: stream(_ece(), LABELS, PROBS, nan(np.ones(N))),
        ValueError,
    ),
    row(
        "metrics.ExpectedCalibrationError",
        "y_pred",
        "sequence",
        lambda c: stream(_ece(), SEQ_LABELS, SEQ_PROBS),
        same_as(lambda c: stream(_ece(), SEQ_LABELS.reshape(-1), SEQ_PROBS.reshape(-1, K))),
    ),
]

_ace = metrics.adaptive_calibration_error
ROWS += [
    row("metrics.adaptive_calibration_error", "probs", "nan", lambda c: _ace(nan(PROBS), LABELS, 3), ValueError),
    row("metrics.adaptive_calibration_error", "probs", "inf", lambda c: _ace(inf(PROBS), LABELS, 3), ValueError),
    row("metrics.adaptive_calibration_error", "labels", "nan", lambda c: _ace(PROBS, nan(LABELS), 3), ValueError),
    row(
        "metrics.adaptive_calibration_error",
        "probs",
        "empty",
        lambda c: _ace(empty(PROBS), empty(LABELS), 3),
        ValueError,
    ),
    row(
        "metrics.adaptive_calibration_error", "labels", "mismatched", lambda c: _ace(PROBS, LABELS[:-1], 3), ValueError
    ),
    row("metrics.adaptive_calibration_error", "num_bins", "zero", lambda c: _ace(PROBS, LABELS, 0), ValueError),
    row("metrics.adaptive_calibration_error", "num_bins", "negative", lambda c: _ace(PROBS, LABELS, -2), ValueError),
    row("metrics.adaptive_calibration_error", "num_bins", "fractional", lambda c: _ace(PROBS, LABELS, 2.5), TypeError),
    row("metrics.adaptive_calibration_error", "num_bins", "too_many", lambda c: _ace(PROBS, LABELS, N + 1), ValueError),
    row(
        "metrics.adaptive_calibration_error",
        "num_bins",
        "np_int64",
        lambda c: _ace(PROBS, LABELS, np.int64(3)),
        same_as(lambda c: _ace(PROBS, LABELS, 3)),
    ),
    row(
        "metrics.adaptive_calibration_error",
        "probs",
        "sequence",
        lambda c: _ace(SEQ_PROBS, SEQ_LABELS, 3),
        same_as(lambda c: _ace(SEQ_PROBS.reshape(-1, K), SEQ_LABELS.reshape(-1), 3)),
    ),
]


# -- keras_mimo.metrics: selective prediction and OOD detection (numpy)

for _fn in ("risk_coverage_curve", "aurc", "augrc", "risk_at_coverage", "coverage_at_risk"):
    _f = getattr(metrics, _fn)
    ROWS += [
        row(f"metrics.{_fn}", "confidence", "nan", lambda c, f=_f: f(nan(CONF), CORRECT), ValueError),
        row(f"metrics.{_fn}", "confidence", "inf", lambda c, f=_f: f(inf(CONF), CORRECT), ValueError),
        row(f"metrics.{_fn}", "correct", "nan", lambda c, f=_f: f(CONF, nan(CORRECT)), ValueError),
        row(f"metrics.{_fn}", "confidence", "empty", lambda c, f=_f: f(empty(CONF), empty(CORRECT)), ValueError),
        row(f"metrics.{_fn}", "correct", "mismatched", lambda c, f=_f: f(CONF, CORRECT[:-1]), ValueError),
        row(f"metrics.{_fn}", "confidence", "sequence", lambda c, f=_f: f(SEQ_PROBS.max(-1), CORRECT), ValueError),
    ]
ROWS += [
    row(
        "metrics.risk_at_coverage", "coverage", "zero", lambda c: metrics.risk_at_coverage(CONF, CORRECT, 0), ValueError
    ),
    row(
        "metrics.risk_at_coverage",
        "coverage",
        "negative",
        lambda c: metrics.risk_at_coverage(CONF, CORRECT, -0.5),
        ValueError,
    ),
    row(
        "metrics.risk_at_coverage",
        "coverage",
        "np_float32",
        lambda c: metrics.risk_at_coverage(CONF, CORRECT, np.float32(0.7)),
        same_as(lambda c: metrics.risk_at_coverage(CONF, CORRECT, 0.7)),
    ),
    row(
        "metrics.coverage_at_risk",
        "risk",
        "negative",
        lambda c: metrics.coverage_at_risk(CONF, CORRECT, -0.1),
        ValueError,
    ),
    row(
        "metrics.coverage_at_risk",
        "risk",
        "np_float32",
        lambda c: metrics.coverage_at_risk(CONF, CORRECT, np.float32(0.3)),
        same_as(lambda c: metrics.coverage_at_risk(CONF, CORRECT, 0.3)),
    ),
]

for _fn in ("auroc", "aupr_in", "aupr_out", "fpr_at_95_tpr"):
    _f = functools.partial(quiet, getattr(metrics, _fn))
    ROWS += [
        row(f"metrics.{_fn}", "in_scores", "nan", lambda c, f=_f: f(nan(IN_S), OUT_S), ValueError),
        row(f"metrics.{_fn}", "out_scores", "inf", lambda c, f=_f: f(IN_S, inf(OUT_S)), ValueError),
        row(f"metrics.{_fn}", "in_scores", "empty", lambda c, f=_f: f(empty(IN_S), OUT_S), ValueError),
        row(f"metrics.{_fn}", "in_scores", "sequence", lambda c, f=_f: f(SEQ_PROBS.max(-1), OUT_S), ValueError),
    ]
ROWS += [
    row("metrics.ood_scores", "in_probs", "nan", lambda c: metrics.ood_scores(nan(MEMBERS), MEMBERS), ValueError),
    row("metrics.ood_scores", "out_probs", "inf", lambda c: metrics.ood_scores(MEMBERS, inf(MEMBERS)), ValueError),
    row("metrics.ood_scores", "in_probs", "empty", lambda c: metrics.ood_scores(empty(MEMBERS), MEMBERS), ValueError),
    row(
        "metrics.ood_scores",
        "out_probs",
        "mismatched",
        lambda c: metrics.ood_scores(MEMBERS, MEMBERS[..., :2]),
        ValueError,
    ),
    row("metrics.ood_scores", "in_probs", "no_member_axis", lambda c: metrics.ood_scores(PROBS, MEMBERS), ValueError),
    row("metrics.ood_scores", "in_probs", "sequence", lambda c: metrics.ood_scores(SEQ_MEMBERS, MEMBERS), ValueError),
    row(
        "metrics.ood_scores",
        "in_probs",
        "ensemble_size_1",
        lambda c: metrics.ood_scores(MEMBERS[:, :1], MEMBERS[::-1, :1]),
        finite,
    ),
]


# -- Gaussian predictions: keras_mimo.metrics.gaussian_crps / GaussianNLL / CRPS, keras_mimo.losses

_SEQ_G_TRUE = G_TRUE.reshape(N // T, T, 1)
_SEQ_G_PRED = G_PRED.reshape(N // T, T, 2)
_gaussian_fns = {
    "metrics.gaussian_crps": metrics.gaussian_crps,
    "losses.gaussian_nll": losses.gaussian_nll,
    "metrics.GaussianNLL": lambda y_true, y_pred: stream(metrics.GaussianNLL(), y_true, y_pred),
    "metrics.CRPS": lambda y_true, y_pred: stream(metrics.CRPS(), y_true, y_pred),
    "losses.GaussianNLL": lambda y_true, y_pred: losses.GaussianNLL()(y_true, y_pred),
}
for _name, _f in _gaussian_fns.items():
    _negative = G_PRED.copy()
    _negative[0, 1] = -1.0
    ROWS += [
        row(_name, "y_pred", "nan", lambda c, f=_f: f(G_TRUE, nan(G_PRED)), ValueError),
        row(_name, "y_pred", "inf", lambda c, f=_f: f(G_TRUE, inf(G_PRED)), ValueError),
        row(_name, "y_true", "nan", lambda c, f=_f: f(nan(G_TRUE), G_PRED), ValueError),
        row(_name, "y_true", "mismatched", lambda c, f=_f: f(G_TRUE[:-1], G_PRED), ValueError),
        row(_name, "y_true", "wrong_units", lambda c, f=_f: f(np.repeat(G_TRUE, 2, -1), G_PRED), ValueError),
        row(_name, "y_pred", "negative_std", lambda c, f=_f, p=_negative: f(G_TRUE, p), ValueError),
        row(_name, "y_pred", "odd_columns", lambda c, f=_f: f(G_TRUE, G_PRED[:, :1].repeat(3, -1)), ValueError),
    ]
for _name in ("metrics.gaussian_crps", "losses.gaussian_nll"):
    _f = _gaussian_fns[_name]
    ROWS += [
        row(_name, "y_true", "empty", lambda c, f=_f: f(empty(G_TRUE), empty(G_PRED)), shape_is(0)),
        row(
            _name,
            "y_pred",
            "sequence",
            lambda c, f=_f: f(_SEQ_G_TRUE, _SEQ_G_PRED),
            same_as(lambda c, f=_f: np_(f(G_TRUE, G_PRED)).reshape(N // T, T)),
        ),
    ]
for _name in ("metrics.GaussianNLL", "metrics.CRPS", "losses.GaussianNLL"):
    _f = _gaussian_fns[_name]
    ROWS.append(
        row(
            _name,
            "y_pred",
            "sequence",
            lambda c, f=_f: f(_SEQ_G_TRUE, _SEQ_G_PRED),
            same_as(lambda c, f=_f: f(G_TRUE, G_PRED)),
        )
    )


# -- keras_mimo.ensembles methods (keras.ops: used inside model graphs)

_combine = ensembles.combine_members
_LOGITS = np.log(MEMBERS)
ROWS += [
    row("ensembles.combine_members", "ensemble_method", "unknown", lambda c: _combine(MEMBERS, "median"), ValueError),
    row("ensembles.combine_members", "axis", "out_of_range", lambda c: _combine(MEMBERS, "mean", axis=3), ValueError),
    row("ensembles.combine_members", "axis", "fractional", lambda c: _combine(MEMBERS, "mean", axis=1.5), TypeError),
    row(
        "ensembles.combine_members",
        "axis",
        "np_int64",
        lambda c: _combine(MEMBERS, "softmax_logits", axis=np.int64(1)),
        same_as(lambda c: _combine(MEMBERS, "softmax_logits", axis=1)),
    ),
    row(
        "ensembles.combine_members",
        "members",
        "ensemble_size_1",
        lambda c: keras.ops.softmax(_combine(_LOGITS[:, :1], "softmax_logits")),
        same_as(lambda c: MEMBERS[:, 0]),
    ),
    row(
        "ensembles.combine_members",
        "members",
        "sequence",
        lambda c: _combine(SEQ_MEMBERS, "mean"),
        same_as(lambda c: SEQ_MEMBERS.mean(1)),
    ),
    row("ensembles.combine_members", "members", "empty", lambda c: _combine(empty(MEMBERS), "mean"), shape_is(0, K)),
    row(
        "ensembles.combine_members",
        "members",
        "nan",
        lambda c: _combine(nan(_LOGITS), "softmax_logits"),
        nan_row_only(lambda c: _combine(_LOGITS, "softmax_logits")),
    ),
    row("ensembles.combine_members", "members", "odd_columns", lambda c: _combine(MEMBERS, "gaussian"), ValueError),
    row(
        "ensembles.combine_members",
        "members",
        "mixed_float16",
        lambda c: _combine(MEMBERS.astype("float16"), "mean"),
        same_as(lambda c: MEMBERS.mean(1), rtol=2e-3, atol=2e-3),
    ),
    row(
        "ensembles.to_probabilities",
        "ensemble_method",
        "gaussian",
        lambda c: ensembles.to_probabilities(PROBS, "gaussian"),
        ValueError,
    ),
    row(
        "ensembles.to_probabilities",
        "ensemble_method",
        "unknown",
        lambda c: ensembles.to_probabilities(PROBS, "x"),
        ValueError,
    ),
    row(
        "ensembles.to_probabilities",
        "outputs",
        "nan",
        lambda c: ensembles.to_probabilities(nan(_LOGITS[:, 0]), "softmax_logits"),
        nan_row_only(lambda c: MEMBERS[:, 0]),
    ),
    row(
        "ensembles.to_probabilities",
        "outputs",
        "sequence",
        lambda c: ensembles.to_probabilities(np.log(SEQ_PROBS), "softmax_logits"),
        same_as(lambda c: SEQ_PROBS),
    ),
    row(
        "ensembles.to_log_probabilities",
        "epsilon",
        "zero",
        lambda c: ensembles.to_log_probabilities(PROBS, "mean", 0.0),
        ValueError,
    ),
    row(
        "ensembles.to_log_probabilities",
        "epsilon",
        "negative",
        lambda c: ensembles.to_log_probabilities(PROBS, "mean", -1e-7),
        ValueError,
    ),
    row(
        "ensembles.to_log_probabilities",
        "epsilon",
        "nan",
        lambda c: ensembles.to_log_probabilities(PROBS, "mean", float("nan")),
        ValueError,
    ),
    row(
        "ensembles.to_log_probabilities",
        "epsilon",
        "np_float32",
        lambda c: ensembles.to_log_probabilities(PROBS, "mean", np.float32(1e-3)),
        same_as(lambda c: ensembles.to_log_probabilities(PROBS, "mean", 1e-3)),
    ),
    row(
        "ensembles.default_ensemble_method",
        "units",
        "zero",
        lambda c: ensembles.default_ensemble_method(None, 0),
        ValueError,
    ),
    row(
        "ensembles.default_ensemble_method",
        "units",
        "negative",
        lambda c: ensembles.default_ensemble_method(None, -3),
        ValueError,
    ),
    row(
        "ensembles.default_ensemble_method",
        "units",
        "fractional",
        lambda c: ensembles.default_ensemble_method(None, 2.5),
        TypeError,
    ),
    row(
        "ensembles.default_ensemble_method",
        "units",
        "np_int64",
        lambda c: ensembles.default_ensemble_method(None, np.int64(3)),
        is_("softmax_logits"),
    ),
    row("ensembles.logits_method", "units", "zero", lambda c: ensembles.logits_method(0), ValueError),
    row("ensembles.logits_method", "units", "fractional", lambda c: ensembles.logits_method(1.5), TypeError),
    row(
        "ensembles.logits_method",
        "units",
        "np_int64",
        lambda c: ensembles.logits_method(np.int64(1)),
        is_("sigmoid_logits"),
    ),
    row(
        "ensembles.gaussian_parameters",
        "raw",
        "odd_columns",
        lambda c: ensembles.gaussian_parameters(PROBS),
        ValueError,
    ),
    row(
        "ensembles.gaussian_parameters",
        "raw",
        "empty",
        lambda c: ensembles.gaussian_parameters(empty(G_PRED)),
        shape_is(0, 2),
    ),
    row(
        "ensembles.gaussian_parameters",
        "raw",
        "nan",
        lambda c: ensembles.gaussian_parameters(nan(G_PRED)),
        nan_row_only(lambda c: ensembles.gaussian_parameters(G_PRED)),
    ),
    row(
        "ensembles.check_ensemble_method",
        "ensemble_method",
        "unknown",
        lambda c: ensembles.check_ensemble_method("max"),
        ValueError,
    ),
    row(
        "ensembles.check_ensemble_method",
        "ensemble_method",
        "none",
        lambda c: ensembles.check_ensemble_method(None),
        ValueError,
    ),
]


# -- keras_mimo.ensembles quantities (keras.ops: used inside model graphs)

ROWS += [
    row(
        "ensembles.to_numpy",
        "x",
        "nan",
        lambda c: ensembles.to_numpy(nan(PROBS)),
        lambda r, c: np.testing.assert_equal(r, nan(PROBS).astype("float64")),
    ),
    row(
        "ensembles.to_numpy",
        "x",
        "np_float32",
        lambda c: ensembles.to_numpy(np.float32(1.5)),
        same_as(lambda c: np.float64(1.5)),
    ),
    row(
        "ensembles.to_numpy",
        "x",
        "list",
        lambda c: ensembles.to_numpy([PROBS, PROBS]),
        same_as(lambda c: [PROBS, PROBS]),
    ),
    row(
        "ensembles.log_probabilities",
        "probs",
        "nan",
        lambda c: ensembles.log_probabilities(nan(PROBS)),
        nan_row_only(lambda c: np.log(PROBS)),
    ),
    row(
        "ensembles.log_probabilities",
        "probs",
        "empty",
        lambda c: ensembles.log_probabilities(empty(PROBS)),
        shape_is(0, K),
    ),
    row(
        "ensembles.entropy",
        "probs",
        "sequence",
        lambda c: ensembles.entropy(SEQ_PROBS),
        same_as(lambda c: _np_entropy(SEQ_PROBS)),
    ),
    row(
        "ensembles.entropy",
        "probs",
        "nan",
        lambda c: ensembles.entropy(nan(PROBS)),
        nan_row_only(lambda c: _np_entropy(PROBS)),
    ),
    row("ensembles.entropy", "probs", "empty", lambda c: ensembles.entropy(empty(PROBS)), shape_is(0)),
]
for _fn, _arg, _ref, _rank in (
    ("ensemble_probabilities", "member_probs", lambda m: m.mean(1), 3),
    ("log_mean_exp", "member_log_probs", lambda m: np.log(np.exp(m).mean(1)), 2),  # (N, M, ...)
    ("expected_entropy", "member_probs", lambda m: _np_entropy(m).mean(1), 3),
    ("mutual_information", "member_probs", lambda m: _np_mutual_information(m), 3),
):
    _f = getattr(ensembles, _fn)
    ROWS += [
        row(
            f"ensembles.{_fn}",
            _arg,
            "no_member_axis",
            lambda c, f=_f, r=_rank: f(PROBS if r == 3 else CONF),
            ValueError,
        ),
        row(
            f"ensembles.{_fn}",
            _arg,
            "ensemble_size_1",
            lambda c, f=_f: f(MEMBERS[:, :1]),
            same_as(lambda c, r=_ref: r(MEMBERS[:, :1])),
        ),
        row(
            f"ensembles.{_fn}",
            _arg,
            "sequence",
            lambda c, f=_f: f(SEQ_MEMBERS),
            same_as(lambda c, r=_ref: r(SEQ_MEMBERS), atol=1e-5),
        ),
        row(
            f"ensembles.{_fn}",
            _arg,
            "nan",
            lambda c, f=_f: f(nan(MEMBERS)),
            nan_row_only(lambda c, r=_ref: r(MEMBERS)),
        ),
    ]
_MU, _SIGMA = G_MEMBERS[..., :1], G_MEMBERS[..., 1:]
ROWS += [
    row(
        "ensembles.gaussian_moments",
        "stds",
        "mismatched",
        lambda c: ensembles.gaussian_moments(_MU, _SIGMA[:, :1]),
        ValueError,
    ),
    row(
        "ensembles.gaussian_moments",
        "means",
        "no_member_axis",
        lambda c: ensembles.gaussian_moments(_MU[:, 0], _SIGMA[:, 0]),
        ValueError,
    ),
    row(
        "ensembles.gaussian_moments",
        "means",
        "ensemble_size_1",
        lambda c: ensembles.gaussian_moments(_MU[:, :1], _SIGMA[:, :1]),
        same_as(lambda c: (_MU[:, 0], _SIGMA[:, 0] ** 2, np.zeros((N, 1)))),
    ),
    row(
        "ensembles.moment_matched",
        "stds",
        "mismatched",
        lambda c: ensembles.moment_matched(_MU, _SIGMA[:-1]),
        ValueError,
    ),
    row(
        "ensembles.moment_matched",
        "means",
        "nan",
        lambda c: ensembles.moment_matched(nan(_MU), _SIGMA)[0],
        nan_row_only(lambda c: ensembles.moment_matched(_MU, _SIGMA)[0]),
    ),
    row("ensembles.split_gaussian", "outputs", "odd_columns", lambda c: ensembles.split_gaussian(PROBS), ValueError),
    row(
        "ensembles.split_gaussian",
        "outputs",
        "sequence",
        lambda c: ensembles.split_gaussian(_SEQ_G_PRED),
        same_as(lambda c: (_SEQ_G_PRED[..., :1], _SEQ_G_PRED[..., 1:])),
    ),
]


# -- keras_mimo.batching

_idx = batching.mimo_batch_indices
ROWS += [
    row("batching.mimo_batch_indices", "ensemble_size", "zero", lambda c: _idx(8, 0), ValueError),
    row("batching.mimo_batch_indices", "ensemble_size", "negative", lambda c: _idx(8, -1), ValueError),
    row("batching.mimo_batch_indices", "ensemble_size", "fractional", lambda c: _idx(8, 2.5), TypeError),
    row(
        "batching.mimo_batch_indices",
        "ensemble_size",
        "np_int64",
        lambda c: _idx(8, np.int64(3), seed=0),
        same_as(lambda c: _idx(8, 3, seed=0)),
    ),
    row(
        "batching.mimo_batch_indices",
        "ensemble_size",
        "ensemble_size_1",
        lambda c: np.sort(np_(_idx(8, 1, seed=0)), -1),
        same_as(lambda c: np.arange(8)[None]),
    ),
    row("batching.mimo_batch_indices", "batch_size", "negative", lambda c: _idx(-1, 2), ValueError),
    row("batching.mimo_batch_indices", "batch_size", "fractional", lambda c: _idx(2.5, 2), TypeError),
    row("batching.mimo_batch_indices", "batch_size", "zero", lambda c: _idx(0, 2), shape_is(2, 0)),
    row(
        "batching.mimo_batch_indices",
        "batch_size",
        "np_int64",
        lambda c: _idx(np.int64(8), 2, seed=0),
        same_as(lambda c: _idx(8, 2, seed=0)),
    ),
    row(
        "batching.mimo_batch_indices",
        "batch_repetitions",
        "zero",
        lambda c: _idx(8, 2, batch_repetitions=0),
        ValueError,
    ),
    row(
        "batching.mimo_batch_indices",
        "batch_repetitions",
        "negative",
        lambda c: _idx(8, 2, batch_repetitions=-2),
        ValueError,
    ),
    row(
        "batching.mimo_batch_indices",
        "batch_repetitions",
        "fractional",
        lambda c: _idx(8, 2, batch_repetitions=1.5),
        TypeError,
    ),
    row(
        "batching.mimo_batch_indices",
        "batch_repetitions",
        "np_int64",
        lambda c: _idx(8, 2, batch_repetitions=np.int64(2), seed=0),
        same_as(lambda c: _idx(8, 2, batch_repetitions=2, seed=0)),
    ),
    row(
        "batching.mimo_batch_indices",
        "input_repetition_probability",
        "out_of_range",
        lambda c: _idx(8, 2, input_repetition_probability=1.5),
        ValueError,
    ),
    row(
        "batching.mimo_batch_indices",
        "input_repetition_probability",
        "np_float32",
        lambda c: _idx(8, 2, input_repetition_probability=np.float32(0.5), seed=0),
        same_as(lambda c: _idx(8, 2, input_repetition_probability=0.5, seed=0)),
    ),
    row(
        "batching.mimo_batch_indices",
        "seed",
        "np_int64",
        lambda c: _idx(8, 2, seed=np.int64(3)),
        same_as(lambda c: _idx(8, 2, seed=3)),
    ),
    row("batching.mimo_batch_indices", "seed", "fractional", lambda c: _idx(8, 2, seed=2.5), TypeError),
    row(
        "batching.shard_batch_indices",
        "num_shards",
        "zero",
        lambda c: batching.shard_batch_indices(4, 0, 2),
        ValueError,
    ),
    row(
        "batching.shard_batch_indices",
        "shard_size",
        "negative",
        lambda c: batching.shard_batch_indices(-4, 2, 2),
        ValueError,
    ),
    row(
        "batching.shard_batch_indices",
        "num_shards",
        "np_int64",
        lambda c: batching.shard_batch_indices(4, np.int64(2), 2, seed=0),
        same_as(lambda c: batching.shard_batch_indices(4, 2, 2, seed=0)),
    ),
    row(
        "batching.form_training_batch",
        "data",
        "mismatched",
        lambda c: batching.form_training_batch((X, Y[:-1]), 2, seed=0),
        ValueError,
    ),
    row(
        "batching.form_training_batch",
        "num_shards",
        "indivisible",
        lambda c: batching.form_training_batch((X, Y), 2, seed=0, num_shards=5),
        ValueError,
    ),
    row(
        "batching.form_training_batch",
        "ensemble_size",
        "zero",
        lambda c: batching.form_training_batch((X, Y), 0),
        ValueError,
    ),
    row(
        "batching.form_training_batch",
        "ensemble_size",
        "np_int64",
        lambda c: batching.form_training_batch((X, Y), np.int64(2), seed=0),
        same_as(lambda c: batching.form_training_batch((X, Y), 2, seed=0)),
    ),
    row(
        "batching.form_training_batch",
        "data",
        "empty",
        lambda c: batching.form_training_batch((empty(X), empty(Y)), 2, seed=0),
        lambda r, c: _close([np_(t).shape for t in r], [(0, 4), (0,)]),
    ),
    row(
        "batching.form_training_batch",
        "data",
        "nan",
        lambda c: batching.form_training_batch((nan(X), Y), 2, seed=0),
        lambda r, c: _close(np_(r[1])[np.isnan(np_(r[0])).any(-1)], np.full(M, Y[0])),
    ),
    row(
        "batching.shuffled_row_count",
        "num_rows",
        "negative",
        lambda c: batching.shuffled_row_count(-10, 0.5),
        ValueError,
    ),
    row(
        "batching.shuffled_row_count",
        "num_rows",
        "fractional",
        lambda c: batching.shuffled_row_count(10.5, 0.5),
        TypeError,
    ),
    row(
        "batching.shuffled_row_count",
        "num_rows",
        "np_int64",
        lambda c: batching.shuffled_row_count(np.int64(90), 0.3),
        is_(63),
    ),
    row(
        "batching.shuffled_row_count",
        "input_repetition_probability",
        "np_float32",
        lambda c: batching.shuffled_row_count(90, np.float32(0.3)),
        is_(63),
    ),
    row(
        "batching.shuffled_row_count",
        "input_repetition_probability",
        "negative",
        lambda c: batching.shuffled_row_count(90, -0.3),
        ValueError,
    ),
]


ROWS += [
    row(
        "batching.shard_batch_indices",
        "shard_size",
        "np_int64",
        lambda c: batching.shard_batch_indices(np.int64(4), 2, 2, seed=0),
        same_as(lambda c: batching.shard_batch_indices(4, 2, 2, seed=0)),
    ),
]


# -- layers: MIMOInput, MIMOHead (keras_mimo and keras_mimo.layers)

_STACKED = np.repeat(X, M, axis=0)  # example-major stacked rows (N * M, 4)
_FEATURES = _rng.normal(0, 1, (N, 8)).astype("float32")


def _input_call(*args, **kwargs):
    layer = keras_mimo.MIMOInput(*args, name="mimo_input", **kwargs)
    return layer(_STACKED), json_config(layer)


@_seeded
def _head_call(*args, features=_FEATURES, **kwargs):
    layer = keras_mimo.MIMOHead(*args, name="mimo_head", **kwargs)
    return layer(features), json_config(layer)


def _channels_first_cnn(c):
    """The channels-first CNN on transposed images predicts what the channels-last one predicts."""
    return cnn("channels_first").predict(IMAGES.transpose(0, 3, 1, 2), verbose=0)


def _under_policy_close_to_float32(build, predict, rtol=3e-2, atol=3e-2):
    """Rows for a layer or wrapper built under each mixed policy: float32-close to the float32 build."""

    def call(c, policy):
        return under(policy, lambda: predict(build(c), c))

    def check(result, c):
        reference = predict(build(c), c)
        for leaf in keras.tree.flatten(result):
            assert str(np_(leaf).dtype) in ("float32", "bool"), np_(leaf).dtype
        _close(result, reference, rtol, atol)

    return call, check


ROWS += [
    row("MIMOInput", "ensemble_size", "zero", lambda c: keras_mimo.MIMOInput(0), ValueError),
    row("MIMOInput", "ensemble_size", "negative", lambda c: keras_mimo.MIMOInput(-2), ValueError),
    row("MIMOInput", "ensemble_size", "fractional", lambda c: keras_mimo.MIMOInput(1.5), TypeError),
    row(
        "MIMOInput", "ensemble_size", "np_int64", lambda c: _input_call(np.int64(M)), same_as(lambda c: _input_call(M))
    ),
    row("MIMOInput", "ensemble_size", "ensemble_size_1", lambda c: keras_mimo.MIMOInput(1)(X), same_as(lambda c: X)),
    row("MIMOInput", "data_format", "unknown", lambda c: keras_mimo.MIMOInput(M, data_format="nchw"), ValueError),
    row(
        "MIMOInput",
        "data_format",
        "channels_first",
        _channels_first_cnn,
        same_as(lambda c: cnn("channels_last").predict(IMAGES, verbose=0), rtol=1e-4, atol=1e-5),
    ),
    row(
        "MIMOInput",
        "inputs",
        "indivisible_batch",
        lambda c: keras_mimo.MIMOInput(M)(X[:5]),
        ValueError,
    ),
]
for _policy in POLICIES:
    ROWS.append(
        row(
            "MIMOInput",
            "dtype",
            _policy,
            lambda c, p=_policy: under(p, lambda: keras_mimo.MIMOInput(M)(_STACKED)),
            lambda r, c, p=_policy: (
                _close(keras.backend.standardize_dtype(r.dtype), keras.DTypePolicy(p).compute_dtype),
                _close(np_(r).astype("float32"), np.tile(X, (1, M)), rtol=1e-2, atol=1e-2),
            ),
        )
    )
ROWS += [
    row("MIMOHead", "units", "zero", lambda c: keras_mimo.MIMOHead(0, M), ValueError),
    row("MIMOHead", "units", "negative", lambda c: keras_mimo.MIMOHead(-1, M), ValueError),
    row("MIMOHead", "units", "fractional", lambda c: keras_mimo.MIMOHead(2.5, M), TypeError),
    row(
        "MIMOHead",
        "units",
        "np_int64",
        lambda c: _head_call(np.int64(K), M, activation="softmax"),
        same_as(lambda c: _head_call(K, M, activation="softmax")),
    ),
    row("MIMOHead", "ensemble_size", "zero", lambda c: keras_mimo.MIMOHead(K, 0), ValueError),
    row("MIMOHead", "ensemble_size", "fractional", lambda c: keras_mimo.MIMOHead(K, 2.5), TypeError),
    row(
        "MIMOHead",
        "ensemble_size",
        "np_int64",
        lambda c: _head_call(K, np.int64(M), activation="softmax"),
        same_as(lambda c: _head_call(K, M, activation="softmax")),
    ),
    row(
        "MIMOHead",
        "ensemble_size",
        "ensemble_size_1",
        lambda c: _head_call(K, 1, activation="softmax")[0],
        lambda r, c: _close(np_(r).sum(-1), np.ones(N), atol=1e-5),
    ),
    row(
        "MIMOHead",
        "ensemble_method",
        "unknown",
        lambda c: keras_mimo.MIMOHead(K, M, ensemble_method="vote"),
        ValueError,
    ),
    row(
        "MIMOHead",
        "activation",
        "with_gaussian",
        lambda c: keras_mimo.MIMOHead(1, M, activation="softmax", ensemble_method="gaussian"),
        ValueError,
    ),
    row(
        "MIMOHead",
        "units",
        "sequence",
        lambda c: _head_call(K, M, activation="softmax", features=_FEATURES.reshape(N // T, T, 8))[0],
        same_as(
            lambda c: (
                np_(_head_call(K, M, activation="softmax")[0]).reshape(N // T, T, M, K).swapaxes(1, 2).reshape(-1, T, K)
            )
        ),
    ),
]
for _policy in POLICIES:
    _call, _check = _under_policy_close_to_float32(
        lambda c: None, lambda _, c: _head_call(K, M, activation="softmax")[0]
    )
    ROWS.append(row("MIMOHead", "dtype", _policy, functools.partial(_call, policy=_policy), _check))


# -- MixMoInput, MixMoSchedule (keras_mimo.layers.mixmo_input)


def mixmo_training_call(ensemble_size=M, data_format="channels_last", with_features=False, **kwargs):
    """A MixMoInput (cut mixing, seed 0) called in training on stacked rows: the mixed features, fixed weights.

    `with_features`: also member 0's encoded features (unmixed).
    """
    keras.utils.set_random_seed(1)
    encoder = keras.layers.Conv2D(4, 3, padding="same", data_format=data_format)
    layer = keras_mimo.MixMoInput(ensemble_size, encoder, cut_probability=1.0, seed=0, **kwargs)
    images = np.repeat(IMAGES, ensemble_size, axis=0)
    mixed = layer(images if data_format == "channels_last" else images.transpose(0, 3, 1, 2), training=True)
    return (mixed, layer.encoders[0](IMAGES)) if with_features else mixed


def one_step(model, x, y):
    """One training step (the point of a training argument): the loss, then the predictions."""
    model.compile("sgd", "sparse_categorical_crossentropy", run_eagerly=True)  # no per-model compile on JAX
    history = model.fit(x, y, batch_size=len(x), epochs=1, verbose=0)
    return history.history["loss"][-1], model.predict(x, verbose=0)


def _step_ok(result, c):
    loss, predictions = result
    assert np.isfinite(loss), loss
    assert np_(predictions).dtype == np.float32, np_(predictions).dtype
    np.testing.assert_allclose(np_(predictions).sum(-1), 1.0, atol=1e-3)


def _mixmo_config(**kwargs):
    layer = keras_mimo.MixMoInput(M, keras.layers.Conv2D(4, 3, padding="same"), **kwargs)
    return {k: v for k, v in json_config(layer).items() if k not in ("name", "encoder")}


_schedule = keras_mimo.MixMoSchedule
ROWS += [
    row("MixMoInput", "alpha", "zero", lambda c: _mixmo_config(alpha=0.0), ValueError),
    row("MixMoInput", "alpha", "negative", lambda c: _mixmo_config(alpha=-1.0), ValueError),
    row("MixMoInput", "alpha", "nan", lambda c: _mixmo_config(alpha=float("nan")), ValueError),
    row(
        "MixMoInput",
        "alpha",
        "np_float32",
        lambda c: _mixmo_config(alpha=np.float32(2.0)),
        same_as(lambda c: _mixmo_config(alpha=2.0)),
    ),
    row("MixMoInput", "cut_probability", "out_of_range", lambda c: _mixmo_config(cut_probability=1.5), ValueError),
    row(
        "MixMoInput",
        "cut_probability",
        "np_float32",
        lambda c: _mixmo_config(cut_probability=np.float32(0.5)),
        same_as(lambda c: _mixmo_config(cut_probability=0.5)),
    ),
    row("MixMoInput", "weight_root", "zero", lambda c: _mixmo_config(weight_root=0.0), ValueError),
    row(
        "MixMoInput",
        "seed",
        "np_int64",
        lambda c: _mixmo_config(seed=np.int64(3)),
        same_as(lambda c: _mixmo_config(seed=3)),
    ),
    row("MixMoInput", "seed", "fractional", lambda c: _mixmo_config(seed=2.5), (ValueError, TypeError)),
    row("MixMoInput", "mixing", "unknown", lambda c: _mixmo_config(mixing="mixup"), ValueError),
    row("MixMoInput", "data_format", "unknown", lambda c: _mixmo_config(data_format="nhwc"), ValueError),
    row(
        "MixMoInput", "ensemble_size", "zero", lambda c: keras_mimo.MixMoInput(0, keras.layers.Conv2D(4, 3)), ValueError
    ),
    row(
        "MixMoInput",
        "ensemble_size",
        "np_int64",
        lambda c: json_config(keras_mimo.MixMoInput(np.int64(M), keras.layers.Conv2D(4, 3), name="m"))["ensemble_size"],
        is_(M),
    ),
    row(
        "MixMoInput",
        "ensemble_size",
        "ensemble_size_1",
        lambda c: mixmo_training_call(1, with_features=True),
        lambda r, c: _close(r[0], r[1], rtol=1e-5, atol=1e-5),  # one member: its features, unmixed
    ),
    row(
        "MixMoInput",
        "data_format",
        "channels_first",
        lambda c: np_(mixmo_training_call(data_format="channels_first")).transpose(0, 2, 3, 1),
        same_as(lambda c: mixmo_training_call(), rtol=1e-4, atol=1e-5),
    ),
    row("MixMoSchedule", "epochs", "zero", lambda c: _schedule(0), ValueError),
    row("MixMoSchedule", "epochs", "negative", lambda c: _schedule(-4), ValueError),
    row("MixMoSchedule", "epochs", "fractional", lambda c: _schedule(2.5), TypeError),
    row(
        "MixMoSchedule",
        "epochs",
        "np_int64",
        lambda c: [_schedule(np.int64(12)).probability(0.5, e) for e in range(12)],
        same_as(lambda c: [_schedule(12).probability(0.5, e) for e in range(12)]),
    ),
    row("MixMoSchedule", "decrease_from", "out_of_range", lambda c: _schedule(12, 1.5), ValueError),
    row(
        "MixMoSchedule",
        "decrease_from",
        "np_float32",
        lambda c: [_schedule(12, np.float32(0.5)).probability(0.5, e) for e in range(12)],
        same_as(lambda c: [_schedule(12, 0.5).probability(0.5, e) for e in range(12)]),
    ),
]
for _policy in POLICIES:
    ROWS.append(
        row(
            "MixMoInput",
            "dtype",
            _policy,
            lambda c, p=_policy: under(p, lambda: mixmo_training_call()),
            lambda r, c, p=_policy: (
                _close(keras.backend.standardize_dtype(r.dtype), keras.DTypePolicy(p).compute_dtype),
                _close(np_(r).astype("float32"), mixmo_training_call(), rtol=5e-2, atol=5e-2),
            ),
        )
    )


ROWS.append(
    row(
        "MixMoInput",
        "weight_root",
        "np_float32",
        lambda c: _mixmo_config(weight_root=np.float32(3.0)),
        same_as(lambda c: _mixmo_config(weight_root=3.0)),
    )
)


# -- MIMOModel and convert


def _clone_arguments(**kwargs):
    return json.dumps(mlp(**kwargs).clone_arguments())


@_seeded
def plain_two_outputs():
    inputs = keras.Input((4,))
    x = keras.layers.Dense(8, activation="relu")(inputs)
    return keras.Model(inputs, [keras.layers.Dense(K, activation="softmax")(x), keras.layers.Dense(2)(x)])


def _first_conv_channels(model):
    conv = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    return conv.kernel.shape[2]


ROWS += [
    row("MIMOModel", "batch_repetitions", "zero", lambda c: mlp(batch_repetitions=0), ValueError),
    row("MIMOModel", "batch_repetitions", "negative", lambda c: mlp(batch_repetitions=-1), ValueError),
    row("MIMOModel", "batch_repetitions", "fractional", lambda c: mlp(batch_repetitions=1.5), TypeError),
    row(
        "MIMOModel",
        "batch_repetitions",
        "np_int64",
        lambda c: _clone_arguments(batch_repetitions=np.int64(2)),
        same_as(lambda c: _clone_arguments(batch_repetitions=2)),
    ),
    row(
        "MIMOModel",
        "input_repetition_probability",
        "out_of_range",
        lambda c: mlp(input_repetition_probability=1.5),
        ValueError,
    ),
    row(
        "MIMOModel",
        "input_repetition_probability",
        "np_float32",
        lambda c: _clone_arguments(input_repetition_probability=np.float32(0.5)),
        same_as(lambda c: _clone_arguments(input_repetition_probability=0.5)),
    ),
    row("MIMOModel", "seed", "fractional", lambda c: mlp(seed=2.5), TypeError),
    row("MIMOModel", "seed", "negative", lambda c: mlp(seed=-1), ValueError),  # JAX's keys are unsigned
    row(
        "MIMOModel",
        "seed",
        "np_int64",
        lambda c: _clone_arguments(seed=np.int64(3)),
        same_as(lambda c: _clone_arguments(seed=3)),
    ),
    row("MIMOModel", "ensemble_size", "ensemble_size_1", lambda c: one_step(mlp(1), X, Y), _step_ok),
    row(
        "MIMOModel",
        "x",
        "nan",
        lambda c: mlp(hidden="tanh").predict(nan(X), verbose=0),  # TF's relu maps NaN to 0
        nan_row_only(lambda c: mlp(hidden="tanh").predict(X, verbose=0)),
    ),
    row(
        "MIMOModel",
        "outputs",
        "multi_output",
        lambda c: [np_(t).shape for t in c.multi.predict_members(X, verbose=0)],
        same_as(lambda c: [(N, M, K), (N, M, 2)]),
    ),
    row(
        "MIMOModel",
        "x",
        "wrong_member_axis",
        lambda c: c.clf.predict_members(np.stack([X] * 3, 1), verbose=0),
        ValueError,
    ),
]
for _policy in POLICIES:
    ROWS.append(
        row("MIMOModel", "dtype", _policy, lambda c, p=_policy: under(p, lambda: one_step(mlp(), X, Y)), _step_ok)
    )

ROWS += [
    row("convert", "ensemble_size", "zero", lambda c: keras_mimo.convert(plain(), 0), ValueError),
    row("convert", "ensemble_size", "fractional", lambda c: keras_mimo.convert(plain(), 1.5), TypeError),
    row(
        "convert", "ensemble_size", "np_int64", lambda c: keras_mimo.convert(plain(), np.int64(M)).ensemble_size, is_(M)
    ),
    row(
        "convert",
        "ensemble_size",
        "ensemble_size_1",
        lambda c: keras_mimo.convert(plain(), 1).predict(X, verbose=0),
        lambda r, c: _close(np_(r).sum(-1), np.ones(N), atol=1e-5),
    ),
    row(
        "convert",
        "batch_repetitions",
        "zero",
        lambda c: keras_mimo.convert(plain(), M, batch_repetitions=0),
        ValueError,
    ),
    row("convert", "model", "list", lambda c: keras_mimo.convert([plain(), plain()], M), TypeError),
    row(
        "convert",
        "model",
        "multi_output",
        lambda c: [
            np_(t).shape
            for t in keras_mimo.convert(plain_two_outputs(), M, ensemble_method=[None, "mean"]).predict(X, verbose=0)
        ],
        same_as(lambda c: [(N, K), (N, 2)]),
    ),
    row(
        "convert",
        "model",
        "channels_first",
        lambda c: _first_conv_channels(keras_mimo.convert(plain_cnn_channels_first(), M)),
        is_(3 * M),
    ),
]
for _policy in POLICIES:
    ROWS.append(
        row(
            "convert",
            "dtype",
            _policy,
            lambda c, p=_policy: under(p, lambda: keras_mimo.convert(plain(), M).predict(X, verbose=0)),
            lambda r, c: (_close(str(np_(r).dtype), "float32"), _close(np_(r).sum(-1), np.ones(N), atol=1e-3)),
        )
    )


ROWS += [
    row("convert", "seed", "np_int64", lambda c: keras_mimo.convert(plain(), M, seed=np.int64(3)).seed, is_(3)),
    row(
        "convert",
        "input_repetition_probability",
        "np_float32",
        lambda c: keras_mimo.convert(plain(), M, input_repetition_probability=np.float32(0.5)).clone_arguments(),
        same_as(lambda c: keras_mimo.convert(plain(), M, input_repetition_probability=0.5).clone_arguments()),
    ),
]


def _kept(model, ensemble_size=M, x=X, **kwargs):
    """`model`'s prediction on `x` and its `convert(weights="keep")` ensemble's: (trained, ensemble)."""
    ensemble = keras_mimo.convert(model, ensemble_size, weights="keep", **kwargs)
    return model.predict(x, verbose=0), ensemble.predict(x, verbose=0)


@_seeded
def plain_cnn_tanh():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="tanh")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(K, activation="softmax")(x))


def _kept_equal(result, ctx):
    for trained, ensemble in zip(keras.tree.flatten(result[0]), keras.tree.flatten(result[1])):
        _close(np_(ensemble), np_(trained), rtol=1e-4, atol=1e-5)


ROWS += [
    row(
        "convert", "weights", "unknown_string", lambda c: keras_mimo.convert(plain(), M, weights="imagenet"), ValueError
    ),
    row("convert", "weights", "bool", lambda c: keras_mimo.convert(plain(), M, weights=True), ValueError),
    row("convert", "weights", "ensemble_size_1", lambda c: _kept(plain(), ensemble_size=1), _kept_equal),
    row(
        "convert",
        "weights",
        "multi_output",
        lambda c: _kept(plain_two_outputs(), ensemble_method=[None, "mean"]),
        _kept_equal,
    ),
    row(
        "convert",
        "weights",
        "channels_first",
        lambda c: _kept(plain_cnn_channels_first(), x=IMAGES.transpose(0, 3, 1, 2)),
        _kept_equal,
    ),
    row(
        "convert",
        "weights",
        "mixing_tanh_encoder",
        lambda c: keras_mimo.convert(plain_cnn_tanh(), M, weights="keep", mixing="linear"),
        ValueError,
    ),
    row(
        "convert",
        "member_noise",
        "negative",
        lambda c: keras_mimo.convert(plain(), M, weights="keep", member_noise=-0.1),
        ValueError,
    ),
    row(
        "convert",
        "member_noise",
        "nan",
        lambda c: keras_mimo.convert(plain(), M, weights="keep", member_noise=np.nan),
        ValueError,
    ),
    row(
        "convert",
        "member_noise",
        "inf",
        lambda c: keras_mimo.convert(plain(), M, weights="keep", member_noise=np.inf),
        ValueError,
    ),
    row(
        "convert",
        "member_noise",
        "string",
        lambda c: keras_mimo.convert(plain(), M, weights="keep", member_noise="0.1"),
        TypeError,
    ),
    row(
        "convert",
        "member_noise",
        "without_weights",
        lambda c: keras_mimo.convert(plain(), M, member_noise=0.1),
        ValueError,
    ),
    row(
        "convert",
        "member_noise",
        "np_float32",
        lambda c: keras_mimo.convert(plain(), M, weights="keep", member_noise=np.float32(0.5), seed=1).predict(
            X, verbose=0
        ),
        same_as(
            lambda c: keras_mimo.convert(plain(), M, weights="keep", member_noise=0.5, seed=1).predict(X, verbose=0)
        ),
    ),
    row(
        "convert",
        "member_noise",
        "zero",
        lambda c: _kept(plain(), member_noise=0.0),
        _kept_equal,
    ),
]
for _policy in POLICIES:
    ROWS.append(
        row(
            "convert",
            "weights",
            _policy,
            lambda c, p=_policy: under(p, lambda: _kept(plain())),
            lambda r, c: _close(np_(r[1]), np_(r[0]), atol=2e-2),
        )
    )

# -- keras_mimo.datasets and the CIFAR recipe (applications.cifar_training)

from keras_mimo.applications import cifar_training  # noqa: E402
from keras_mimo.datasets import cifar as _cifar  # noqa: E402
from keras_mimo.datasets import cifar_pipeline as _pipeline  # noqa: E402
from keras_mimo.datasets import cifar_tarball as _tarball  # noqa: E402
from keras_mimo.datasets import tfds_loading as _tfds  # noqa: E402

_IMAGES = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3)).astype("uint8")
_IMAGE_LABELS = np.arange(8) % 10
_augment = lambda images, padding=2: _pipeline.augment_numpy(images, np.random.default_rng(0), padding)  # noqa: E731
ROWS += [
    row("datasets.cifar.load_npz", "npz_dir", "missing", lambda c: _cifar.load_npz("/no/such/dir"), DataUnavailable),
    row("datasets.cifar.load_npz", "num_classes", "fractional", lambda c: _cifar.load_npz("/x", 10.5), ValueError),
    row("datasets.cifar.load_npz", "num_classes", "zero", lambda c: _cifar.load_npz("/x", 0), ValueError),
    row("datasets.cifar.load_tfds", "dataset", "unknown", lambda c: _cifar.load_tfds("mnist"), ValueError),
    row(
        "datasets.cifar.normalize",
        "images",
        "nan",
        lambda c: _cifar.normalize(nan(_IMAGES.astype("float32"))),
        ValueError,
    ),
    row("datasets.cifar.normalize", "images", "empty", lambda c: _cifar.normalize(_IMAGES[:0]), shape_is(0, 32, 32, 3)),
    row(
        "datasets.cifar.normalize",
        "images",
        "channels_first",
        lambda c: _cifar.normalize(_IMAGES.transpose(0, 3, 1, 2)),
        ValueError,
    ),
    row(
        "datasets.cifar_pipeline.augment_numpy", "crop_padding", "negative", lambda c: _augment(_IMAGES, -1), ValueError
    ),
    row(
        "datasets.cifar_pipeline.augment_numpy",
        "crop_padding",
        "fractional",
        lambda c: _augment(_IMAGES, 2.5),
        TypeError,
    ),
    row(
        "datasets.cifar_pipeline.augment_numpy",
        "crop_padding",
        "np_int64",
        lambda c: _augment(_IMAGES, np.int64(1)),
        same_as(lambda c: _augment(_IMAGES, 1)),
    ),
    row(
        "datasets.cifar_pipeline.augment_numpy",
        "images",
        "empty",
        lambda c: _augment(_IMAGES[:0]),
        shape_is(0, 32, 32, 3),
    ),
    row(
        "datasets.cifar_pipeline.augment_numpy",
        "rng",
        "not_a_generator",
        lambda c: _pipeline.augment_numpy(_IMAGES, 3),
        TypeError,
    ),
    row(
        "datasets.cifar_pipeline.numpy_train_dataset",
        "batch_size",
        "zero",
        lambda c: _pipeline.numpy_train_dataset(_IMAGES, _IMAGE_LABELS, 0, 0),
        ValueError,
    ),
    row(
        "datasets.cifar_pipeline.numpy_train_dataset",
        "y",
        "mismatched",
        lambda c: _pipeline.numpy_train_dataset(_IMAGES, _IMAGE_LABELS[:3], 4, 0),
        ValueError,
    ),
    row(
        "datasets.cifar_pipeline.numpy_train_dataset",
        "x",
        "empty",
        lambda c: _pipeline.numpy_train_dataset(_IMAGES[:0], _IMAGE_LABELS[:0], 4, 0),
        ValueError,
    ),
    row(
        "datasets.cifar_pipeline.numpy_train_dataset",
        "seed",
        "negative",
        lambda c: _pipeline.numpy_train_dataset(_IMAGES, _IMAGE_LABELS, 4, -1),
        ValueError,
    ),
    row(
        "datasets.cifar_pipeline.numpy_train_dataset",
        "batch_size",
        "np_int64",
        lambda c: _pipeline.numpy_train_dataset(_IMAGES, _IMAGE_LABELS, np.int64(4), 0)[1][0],
        same_as(lambda c: _pipeline.numpy_train_dataset(_IMAGES, _IMAGE_LABELS, 4, 0)[1][0]),
    ),
    row(
        "datasets.cifar_pipeline.tf_train_dataset",
        "batch_size",
        "zero",
        lambda c: _pipeline.tf_train_dataset(_IMAGES, _IMAGE_LABELS, 0, 0),
        ValueError,
    ),
    row(
        "datasets.cifar_pipeline.tf_train_dataset",
        "y",
        "mismatched",
        lambda c: _pipeline.tf_train_dataset(_IMAGES, _IMAGE_LABELS[:3], 4, 0),
        ValueError,
    ),
    row("datasets.cifar_pipeline.tf_available", "-", "no_arguments", lambda c: _pipeline.tf_available(), is_(True)),
    row(
        "datasets.cifar_tarball.npz_from_tarball",
        "tarball",
        "missing",
        lambda c: _tarball.npz_from_tarball("/no/such.tar.gz", "/tmp/unused"),
        FileNotFoundError,
    ),
    row("datasets.tfds_loading.online", "port", "negative", lambda c: _tfds.online(port=-1), ValueError),
    row("datasets.tfds_loading.online", "timeout", "zero", lambda c: _tfds.online(timeout=0.0), ValueError),
    row(
        "datasets.tfds_loading.load_prepared_or_download",
        "data_dir",
        "missing",
        lambda c: _tfds.load_prepared_or_download(_unprepared, "cifar10", "/no/such/dir"),
        DataUnavailable,
    ),
    row(
        "applications.cifar_training.TrainConfig",
        "depth",
        "zero",
        lambda c: cifar_training.TrainConfig(depth=0),
        ValueError,
    ),
    row(
        "applications.cifar_training.TrainConfig",
        "epochs",
        "fractional",
        lambda c: cifar_training.TrainConfig(epochs=2.5),
        TypeError,
    ),
    row(
        "applications.cifar_training.TrainConfig",
        "depth",
        "np_int64",
        lambda c: cifar_training.TrainConfig(depth=np.int64(16)).depth,
        is_(16),
    ),
    row(
        "applications.cifar_training.batch_plan",
        "replicas",
        "zero",
        lambda c: cifar_training.batch_plan(cifar_training.TrainConfig(), 0),
        ValueError,
    ),
    row(
        "applications.cifar_training.batch_plan",
        "replicas",
        "np_int64",
        lambda c: cifar_training.batch_plan(cifar_training.TrainConfig(), np.int64(2)),
        same_as(lambda c: cifar_training.batch_plan(cifar_training.TrainConfig(), 2)),
    ),
    row(
        "applications.cifar_training.batch_plan",
        "config",
        "dict",
        lambda c: cifar_training.batch_plan({}, 1),
        TypeError,
    ),
    row(
        "applications.cifar_training.mixed_precision_policy",
        "capability",
        "unknown",
        lambda c: cifar_training.mixed_precision_policy("x"),
        ValueError,
    ),
    row(
        "applications.cifar_training.load_data", "config", "string", lambda c: cifar_training.load_data("x"), TypeError
    ),
    row("applications.cifar_training.train", "config", "string", lambda c: cifar_training.train("x"), TypeError),
]


# -- keras_mimo.applications

_WRN = dict(input_shape=(8, 8, 3), depth=10, width_multiplier=1, num_classes=K, ensemble_size=M)


def _wrn(**kwargs):
    keras.utils.set_random_seed(1)
    return wide_resnet(**{**_WRN, **kwargs})


def _wrn_summary(model):
    """Parameters, the first convolution's input channels, and every batch norm's gamma size (its channels)."""
    bns = [layer.gamma.shape[0] for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    return model.count_params(), _first_conv_channels(model), bns


def _channels_first(fn):
    previous = keras.config.image_data_format()
    keras.config.set_image_data_format("channels_first")
    try:
        return fn()
    finally:
        keras.config.set_image_data_format(previous)


_wrn_reference = lambda c: _wrn_summary(_wrn())  # noqa: E731
ROWS += [
    row("applications.wide_resnet", "depth", "zero", lambda c: _wrn(depth=0), ValueError),
    row("applications.wide_resnet", "depth", "not_6n_plus_4", lambda c: _wrn(depth=11), ValueError),
    row("applications.wide_resnet", "depth", "fractional", lambda c: _wrn(depth=10.0), TypeError),
    row(
        "applications.wide_resnet",
        "depth",
        "np_int64",
        lambda c: _wrn_summary(_wrn(depth=np.int64(10))),
        same_as(_wrn_reference),
    ),
    row("applications.wide_resnet", "width_multiplier", "zero", lambda c: _wrn(width_multiplier=0), ValueError),
    row(
        "applications.wide_resnet",
        "width_multiplier",
        "np_int64",
        lambda c: _wrn_summary(_wrn(width_multiplier=np.int64(1))),
        same_as(_wrn_reference),
    ),
    row("applications.wide_resnet", "num_classes", "zero", lambda c: _wrn(num_classes=0), ValueError),
    row("applications.wide_resnet", "num_classes", "fractional", lambda c: _wrn(num_classes=2.5), TypeError),
    row(
        "applications.wide_resnet",
        "num_classes",
        "np_int64",
        lambda c: _wrn_summary(_wrn(num_classes=np.int64(K))),
        same_as(_wrn_reference),
    ),
    row("applications.wide_resnet", "ensemble_size", "zero", lambda c: _wrn(ensemble_size=0), ValueError),
    row(
        "applications.wide_resnet",
        "ensemble_size",
        "np_int64",
        lambda c: _wrn_summary(_wrn(ensemble_size=np.int64(M))),
        same_as(_wrn_reference),
    ),
    row(
        "applications.wide_resnet",
        "ensemble_size",
        "ensemble_size_1",
        lambda c: _wrn(ensemble_size=1).predict(IMAGES, verbose=0),
        lambda r, c: _close(np_(r).sum(-1), np.ones(N), atol=1e-5),
    ),
    row("applications.wide_resnet", "l2", "negative", lambda c: _wrn(l2=-1e-4), ValueError),
    row("applications.wide_resnet", "l2", "nan", lambda c: _wrn(l2=float("nan")), ValueError),
    row(
        "applications.wide_resnet",
        "l2",
        "np_float32",
        lambda c: _wrn_summary(_wrn(l2=np.float32(1e-4))),
        same_as(lambda c: _wrn_summary(_wrn(l2=1e-4))),
    ),
    row("applications.wide_resnet", "virtual_batch_size", "zero", lambda c: _wrn(virtual_batch_size=0), ValueError),
    row(
        "applications.wide_resnet",
        "virtual_batch_size",
        "np_int64",
        lambda c: _wrn_summary(_wrn(virtual_batch_size=np.int64(2))),
        same_as(lambda c: _wrn_summary(_wrn(virtual_batch_size=2))),
    ),
    row("applications.wide_resnet", "batch_repetitions", "zero", lambda c: _wrn(batch_repetitions=0), ValueError),
    row(
        "applications.wide_resnet",
        "mixing",
        "without_ensemble",
        lambda c: _wrn(ensemble_size=None, mixing="cut"),
        ValueError,
    ),
    row(
        "applications.wide_resnet",
        "input_shape",
        "channels_first",
        lambda c: _channels_first(lambda: _wrn_summary(_wrn(input_shape=(3, 8, 8), virtual_batch_size=2))),
        same_as(lambda c: _wrn_summary(_wrn(virtual_batch_size=2))),
    ),
]
for _policy in POLICIES:
    ROWS.append(
        row(
            "applications.wide_resnet",
            "dtype",
            _policy,
            lambda c, p=_policy: under(p, lambda: _wrn(virtual_batch_size=2).predict(IMAGES, verbose=0)),
            lambda r, c: (_close(str(np_(r).dtype), "float32"), _close(np_(r).sum(-1), np.ones(N), atol=1e-3)),
        )
    )

ROWS.append(
    row(
        "applications.wide_resnet",
        "batch_repetitions",
        "np_int64",
        lambda c: json.dumps(_wrn(batch_repetitions=np.int64(2)).clone_arguments()),
        same_as(lambda c: json.dumps(_wrn(batch_repetitions=2).clone_arguments())),
    )
)


_lr = lambda **kw: WarmUpStepDecay(**{"base_learning_rate": 0.1, "warmup_steps": 2, "decay_steps": [4, 6], **kw})  # noqa: E731
_lr_values = lambda **kw: [float(np_(_lr(**kw)(s))) for s in range(8)]  # noqa: E731
ROWS += [
    row("applications.WarmUpStepDecay", "warmup_steps", "negative", lambda c: _lr(warmup_steps=-1), ValueError),
    row("applications.WarmUpStepDecay", "warmup_steps", "fractional", lambda c: _lr(warmup_steps=2.5), TypeError),
    row(
        "applications.WarmUpStepDecay",
        "warmup_steps",
        "np_int64",
        lambda c: _lr_values(warmup_steps=np.int64(2)),
        same_as(lambda c: _lr_values()),
    ),
    row(
        "applications.WarmUpStepDecay",
        "base_learning_rate",
        "negative",
        lambda c: _lr(base_learning_rate=-0.1),
        ValueError,
    ),
    row(
        "applications.WarmUpStepDecay",
        "base_learning_rate",
        "nan",
        lambda c: _lr(base_learning_rate=float("nan")),
        ValueError,
    ),
    row(
        "applications.WarmUpStepDecay",
        "base_learning_rate",
        "np_float32",
        lambda c: _lr_values(base_learning_rate=np.float32(0.1)),
        same_as(lambda c: _lr_values()),
    ),
    row("applications.WarmUpStepDecay", "decay_steps", "decreasing", lambda c: _lr(decay_steps=[6, 4]), ValueError),
    row("applications.WarmUpStepDecay", "decay_steps", "fractional", lambda c: _lr(decay_steps=[4.5]), TypeError),
    row("applications.WarmUpStepDecay", "decay_steps", "negative", lambda c: _lr(decay_steps=[-4]), ValueError),
    row(
        "applications.WarmUpStepDecay",
        "decay_steps",
        "np_int64",
        lambda c: _lr_values(decay_steps=np.array([4, 6])),
        same_as(lambda c: _lr_values()),
    ),
    row("applications.WarmUpStepDecay", "decay_ratio", "negative", lambda c: _lr(decay_ratio=-0.2), ValueError),
    row(
        "applications.WarmUpStepDecay",
        "decay_ratio",
        "np_float32",
        lambda c: _lr_values(decay_ratio=np.float32(0.2)),
        same_as(lambda c: _lr_values()),
    ),
]


def _vbn(images, **kwargs):
    keras.utils.set_random_seed(1)
    layer = VirtualBatchNormalization(name="vbn", **kwargs)
    return layer(images, training=True), json_config(layer)


ROWS += [
    row(
        "applications.VirtualBatchNormalization",
        "virtual_batch_size",
        "zero",
        lambda c: VirtualBatchNormalization(0),
        ValueError,
    ),
    row(
        "applications.VirtualBatchNormalization",
        "virtual_batch_size",
        "negative",
        lambda c: VirtualBatchNormalization(-2),
        ValueError,
    ),
    row(
        "applications.VirtualBatchNormalization",
        "virtual_batch_size",
        "fractional",
        lambda c: VirtualBatchNormalization(2.5),
        TypeError,
    ),
    row(
        "applications.VirtualBatchNormalization",
        "virtual_batch_size",
        "np_int64",
        lambda c: _vbn(IMAGES, virtual_batch_size=np.int64(4)),
        same_as(lambda c: _vbn(IMAGES, virtual_batch_size=4)),
    ),
    row(
        "applications.VirtualBatchNormalization",
        "axis",
        "channels_first",
        lambda c: np_(_vbn(IMAGES.transpose(0, 3, 1, 2), virtual_batch_size=4, axis=1)[0]).transpose(0, 2, 3, 1),
        same_as(lambda c: _vbn(IMAGES, virtual_batch_size=4)[0], rtol=1e-4, atol=1e-5),
    ),
]
for _policy in POLICIES:
    ROWS.append(
        row(
            "applications.VirtualBatchNormalization",
            "dtype",
            _policy,
            lambda c, p=_policy: under(p, lambda: np_(_vbn(IMAGES, virtual_batch_size=4)[0]).astype("float32")),
            same_as(lambda c: _vbn(IMAGES, virtual_batch_size=4)[0], rtol=5e-2, atol=5e-2),
        )
    )


# -- keras_mimo.evaluation

_ee = functools.partial(keras_mimo.evaluate_ensemble, verbose=0)
_er = functools.partial(keras_mimo.evaluate_regression, verbose=0)
ROWS += [
    row("evaluate_ensemble", "x", "nan", lambda c: _ee(c.clf, nan(X), Y), ValueError),
    row("evaluate_ensemble", "x", "inf", lambda c: _ee(c.clf, inf(X), Y), ValueError),
    row("evaluate_ensemble", "x", "empty", lambda c: _ee(mlp(), empty(X), empty(Y)), ValueError),
    row("evaluate_ensemble", "ood_x", "nan", lambda c: _ee(c.clf, X, Y, ood_x=nan(X)), ValueError),
    row("evaluate_ensemble", "y", "nan", lambda c: _ee(c.clf, X, nan(Y)), ValueError),
    row("evaluate_ensemble", "y", "inf", lambda c: _ee(c.clf, X, inf(Y)), ValueError),
    row("evaluate_ensemble", "y", "mismatched", lambda c: _ee(c.clf, X, Y[:-1]), ValueError),
    row("evaluate_ensemble", "num_bins", "zero", lambda c: _ee(c.clf, X, Y, num_bins=0), ValueError),
    row("evaluate_ensemble", "num_bins", "fractional", lambda c: _ee(c.clf, X, Y, num_bins=2.5), TypeError),
    row(
        "evaluate_ensemble",
        "num_bins",
        "np_int64",
        lambda c: _ee(c.clf, X, Y, num_bins=np.int64(5)),
        same_as(lambda c: _ee(c.clf, X, Y, num_bins=5)),
    ),
    row("evaluate_ensemble", "batch_size", "zero", lambda c: _ee(c.clf, X, Y, batch_size=0), ValueError),
    row(
        "evaluate_ensemble",
        "batch_size",
        "np_int64",
        lambda c: _ee(c.clf, X, Y, batch_size=np.int64(4)),
        same_as(lambda c: _ee(c.clf, X, Y, batch_size=4)),
    ),
    row("evaluate_ensemble", "model", "list", lambda c: _ee([c.clf], X, Y), same_as(lambda c: _ee(c.clf, X, Y))),
    row("evaluate_ensemble", "model", "multi_output", lambda c: _ee(c.multi, X, Y), ValueError),
    row("evaluate_ensemble", "model", "ensemble_size_1", lambda c: _ee(c.clf1, X, Y)["disagreement"], is_(None)),
    row("evaluate_ensemble", "model", "gaussian", lambda c: _ee(c.gauss, X, Y), ValueError),
    row("evaluate_regression", "x", "nan", lambda c: _er(c.gauss, nan(X), Y_REG), ValueError),
    row(
        "evaluate_regression",
        "x",
        "empty",
        lambda c: _er(mlp(activation=None, units=1, method="gaussian"), empty(X), empty(Y_REG)),
        ValueError,
    ),
    row("evaluate_regression", "y", "nan", lambda c: _er(c.gauss, X, nan(Y_REG)), ValueError),
    row("evaluate_regression", "y", "mismatched", lambda c: _er(c.gauss, X, Y_REG[:-1]), ValueError),
    row("evaluate_regression", "y_scale", "zero", lambda c: _er(c.gauss, X, Y_REG, y_scale=0.0), ValueError),
    row("evaluate_regression", "y_scale", "negative", lambda c: _er(c.gauss, X, Y_REG, y_scale=-1.0), ValueError),
    row("evaluate_regression", "y_scale", "nan", lambda c: _er(c.gauss, X, Y_REG, y_scale=float("nan")), ValueError),
    row(
        "evaluate_regression",
        "y_scale",
        "np_float32",
        lambda c: _er(c.gauss, X, Y_REG, y_scale=np.float32(2.0)),
        same_as(lambda c: _er(c.gauss, X, Y_REG, y_scale=2.0)),
    ),
    row("evaluate_regression", "batch_size", "zero", lambda c: _er(c.gauss, X, Y_REG, batch_size=0), ValueError),
    row(
        "evaluate_regression",
        "model",
        "list",
        lambda c: _er([c.gauss], X, Y_REG),
        same_as(lambda c: _er(c.gauss, X, Y_REG)),
    ),
    row("evaluate_regression", "model", "multi_output", lambda c: _er(c.multi, X, Y_REG), ValueError),
    row("evaluate_regression", "model", "classifier", lambda c: _er(c.clf, X, Y_REG), ValueError),
    row("evaluate_regression", "model", "negative_std", lambda c: _er(c.negative_std, X, Y_REG), ValueError),
    row("evaluate_regression", "model", "ensemble_size_1", lambda c: _er(c.gauss1, X, Y_REG), finite),
]
for _name in ("member_probabilities", "member_predictions"):
    _f = functools.partial(getattr(evaluation, _name), verbose=0)
    ROWS += [
        row(f"evaluation.{_name}", "x", "nan", lambda c, f=_f: f(c.clf, nan(X)), ValueError),
        row(f"evaluation.{_name}", "x", "empty", lambda c, f=_f: f(mlp(), empty(X)), ValueError),
        row(f"evaluation.{_name}", "batch_size", "zero", lambda c, f=_f: f(c.clf, X, batch_size=0), ValueError),
        row(
            f"evaluation.{_name}",
            "batch_size",
            "np_int64",
            lambda c, f=_f: f(c.clf, X, batch_size=np.int64(4)),
            same_as(lambda c, f=_f: f(c.clf, X, batch_size=4)),
        ),
        row(
            f"evaluation.{_name}",
            "model_or_models",
            "list",
            lambda c, f=_f: keras.tree.flatten(f([c.clf, c.plain], X))[0],
            same_as(lambda c, f=_f: np.concatenate([keras.tree.flatten(f(m, X))[0] for m in (c.clf, c.plain)], 1)),
        ),
        row(f"evaluation.{_name}", "model_or_models", "multi_output", lambda c, f=_f: f(c.multi, X), ValueError),
        row(f"evaluation.{_name}", "model_or_models", "not_a_model", lambda c, f=_f: f("model", X), TypeError),
    ]
ROWS += [
    row(
        "evaluation.member_probabilities",
        "model_or_models",
        "ensemble_size_1",
        lambda c: evaluation.member_probabilities(c.clf1, X, verbose=0),
        shape_is(N, 1, K),
    ),
    row(
        "evaluation.member_predictions",
        "from_logits",
        "logits_model",
        lambda c: evaluation.member_predictions(c.logits, X, verbose=0)[1],
        shape_is(N, M, K),
    ),
    row(
        "evaluation.member_gaussians",
        "x",
        "nan",
        lambda c: evaluation.member_gaussians(c.gauss, nan(X), verbose=0),
        ValueError,
    ),
    row(
        "evaluation.member_gaussians",
        "model_or_models",
        "negative_std",
        lambda c: evaluation.member_gaussians(c.negative_std, X, verbose=0),
        ValueError,
    ),
    row(
        "evaluation.member_gaussians",
        "model_or_models",
        "list",
        lambda c: evaluation.member_gaussians([c.gauss, c.plain_gauss], X, verbose=0),
        lambda r, c: _close([np_(t).shape for t in r], [(N, M + 1, 1)] * 2),
    ),
    row(
        "evaluation.member_gaussians",
        "model_or_models",
        "multi_output",
        lambda c: evaluation.member_gaussians(c.multi, X, verbose=0),
        ValueError,
    ),
    row(
        "evaluation.member_gaussians",
        "model_or_models",
        "ensemble_size_1",
        lambda c: evaluation.member_gaussians(c.gauss1, X, verbose=0)[1],
        shape_is(N, 1, 1),
    ),
]
_rb = evaluation.reliability_bins
ROWS += [
    row("evaluation.reliability_bins", "mean_probs", "nan", lambda c: _rb(nan(PROBS), LABELS, 5), ValueError),
    row("evaluation.reliability_bins", "labels", "nan", lambda c: _rb(PROBS, nan(LABELS), 5), ValueError),
    row("evaluation.reliability_bins", "labels", "mismatched", lambda c: _rb(PROBS, LABELS[:-1], 5), ValueError),
    row("evaluation.reliability_bins", "num_bins", "zero", lambda c: _rb(PROBS, LABELS, 0), ValueError),
    row("evaluation.reliability_bins", "num_bins", "fractional", lambda c: _rb(PROBS, LABELS, 2.5), TypeError),
    row(
        "evaluation.reliability_bins",
        "num_bins",
        "np_int64",
        lambda c: _rb(PROBS, LABELS, np.int64(5)),
        same_as(lambda c: _rb(PROBS, LABELS, 5)),
    ),
    row(
        "evaluation.reliability_bins",
        "mean_probs",
        "sequence",
        lambda c: _rb(SEQ_PROBS, SEQ_LABELS, 5),
        same_as(lambda c: _rb(SEQ_PROBS.reshape(-1, K), SEQ_LABELS.reshape(-1), 5)),
    ),
]
_sfp = evaluation.scores_from_probabilities
ROWS += [
    row("evaluation.scores_from_probabilities", "probs", "nan", lambda c: _sfp(nan(MEMBERS), LABELS), ValueError),
    row("evaluation.scores_from_probabilities", "probs", "inf", lambda c: _sfp(inf(MEMBERS), LABELS), ValueError),
    row(
        "evaluation.scores_from_probabilities",
        "probs",
        "empty",
        lambda c: _sfp(empty(MEMBERS), empty(LABELS)),
        ValueError,
    ),
    row("evaluation.scores_from_probabilities", "probs", "no_member_axis", lambda c: _sfp(PROBS, LABELS), ValueError),
    row(
        "evaluation.scores_from_probabilities", "probs", "sequence", lambda c: _sfp(SEQ_MEMBERS, SEQ_LABELS), ValueError
    ),
    row("evaluation.scores_from_probabilities", "labels", "nan", lambda c: _sfp(MEMBERS, nan(LABELS)), ValueError),
    row(
        "evaluation.scores_from_probabilities", "labels", "mismatched", lambda c: _sfp(MEMBERS, LABELS[:-1]), ValueError
    ),
    row("evaluation.scores_from_probabilities", "num_bins", "zero", lambda c: _sfp(MEMBERS, LABELS, 0), ValueError),
    row(
        "evaluation.scores_from_probabilities",
        "num_bins",
        "np_int64",
        lambda c: _sfp(MEMBERS, LABELS, np.int64(5)),
        same_as(lambda c: _sfp(MEMBERS, LABELS, 5)),
    ),
    row(
        "evaluation.scores_from_probabilities",
        "log_probs",
        "mismatched",
        lambda c: _sfp(MEMBERS, LABELS, log_probs=np.log(MEMBERS[:-1])),
        ValueError,
    ),
    row(
        "evaluation.scores_from_probabilities",
        "log_probs",
        "nan",
        lambda c: _sfp(MEMBERS, LABELS, log_probs=nan(np.log(MEMBERS))),
        ValueError,
    ),
    row(
        "evaluation.scores_from_probabilities",
        "probs",
        "ensemble_size_1",
        lambda c: _sfp(MEMBERS[:, :1], LABELS)["average_kl"],
        is_(None),
    ),
]
_RESULT = {"accuracy": 0.5, "nll": 1.0, "ece": 0.1, "brier": 0.6}
_acr = evaluation.aggregate_corruption_results
ROWS += [
    row("evaluation.aggregate_corruption_results", "per_corruption", "empty", lambda c: _acr({}), ValueError),
    row(
        "evaluation.aggregate_corruption_results",
        "per_corruption",
        "nan",
        lambda c: _acr({"fog": {1: {**_RESULT, "nll": float("nan")}}}),
        ValueError,
    ),
    row(
        "evaluation.aggregate_corruption_results",
        "per_corruption",
        "missing_key",
        lambda c: _acr({"fog": {1: {"accuracy": 0.5}}}),
        ValueError,
    ),
    row(
        "evaluation.aggregate_corruption_results",
        "per_corruption",
        "bad_severity",
        lambda c: _acr({"fog": {"high": _RESULT}}),
        ValueError,
    ),
    row(
        "evaluation.aggregate_corruption_results",
        "per_corruption",
        "np_int64",
        lambda c: _acr({"fog": {np.int64(1): _RESULT, np.int64(2): _RESULT}}),
        same_as(lambda c: _acr({"fog": {1: _RESULT, 2: _RESULT}})),
    ),
]
_IMAGES32 = (_rng.random((2, 32, 32, 3)) * 255).astype("uint8")
_ci = evaluation.corrupt_images
ROWS += [
    row("evaluation.corrupt_images", "severity", "zero", lambda c: _ci(_IMAGES32, "fog", 0), ValueError),
    row("evaluation.corrupt_images", "severity", "fractional", lambda c: _ci(_IMAGES32, "fog", 1.5), TypeError),
    row(
        "evaluation.corrupt_images",
        "severity",
        "np_int64",
        lambda c: _ci(_IMAGES32, "gaussian_noise", np.int64(2)),
        same_as(lambda c: _ci(_IMAGES32, "gaussian_noise", 2)),
    ),
    row("evaluation.corrupt_images", "corruption", "unknown", lambda c: _ci(_IMAGES32, "rain", 1), ValueError),
    row("evaluation.corrupt_images", "images", "float", lambda c: _ci(_IMAGES32 / 255.0, "fog", 1), ValueError),
    row(
        "evaluation.corrupt_images",
        "images",
        "channels_first",
        lambda c: _ci(_IMAGES32.transpose(0, 3, 1, 2), "fog", 1),
        ValueError,
    ),
    row(
        "evaluation.corrupt_images",
        "images",
        "empty",
        lambda c: _ci(empty(_IMAGES32), "fog", 1),
        shape_is(0, 32, 32, 3),
    ),
    row(
        "evaluation.corrupt_images",
        "seed",
        "np_int64",
        lambda c: _ci(_IMAGES32, "gaussian_noise", 1, seed=np.int64(3)),
        same_as(lambda c: _ci(_IMAGES32, "gaussian_noise", 1, seed=3)),
    ),
    row(
        "evaluation.corrupt_images",
        "seed",
        "fractional",
        lambda c: _ci(_IMAGES32, "gaussian_noise", 1, seed=2.5),
        TypeError,
    ),
    row(
        "evaluation.corrupted_sets",
        "severities",
        "zero",
        lambda c: evaluation.corrupted_sets(_IMAGES32, ["fog"], [0]),
        ValueError,
    ),
    row(
        "evaluation.corrupted_sets",
        "severities",
        "np_int64",
        lambda c: evaluation.corrupted_sets(_IMAGES32, ["gaussian_noise"], [np.int64(1)]),
        same_as(lambda c: evaluation.corrupted_sets(_IMAGES32, ["gaussian_noise"], [1])),
    ),
    row(
        "evaluation.corrupted_sets",
        "corruptions",
        "one_name",
        lambda c: evaluation.corrupted_sets(_IMAGES32, "gaussian_noise", [1]),
        same_as(lambda c: evaluation.corrupted_sets(_IMAGES32, ["gaussian_noise"], [1])),
    ),
    row(
        "evaluation.load_tfds_cifar10_corrupted",
        "corruption",
        "unknown",
        lambda c: evaluation.load_tfds_cifar10_corrupted("rain", 1),
        ValueError,
    ),
    row(
        "evaluation.load_tfds_cifar10_corrupted",
        "severity",
        "zero",
        lambda c: evaluation.load_tfds_cifar10_corrupted("fog", 0),
        ValueError,
    ),
    row(
        "evaluation.load_tfds_cifar10_corrupted",
        "severity",
        "fractional",
        lambda c: evaluation.load_tfds_cifar10_corrupted("fog", 2.5),
        TypeError,
    ),
]
_SETS = {("gaussian_noise", 1): UINT8}
_ec = functools.partial(evaluation.evaluate_corruptions, images=None, verbose=0)
ROWS += [
    row(
        "evaluation.evaluate_corruptions", "labels", "nan", lambda c: _ec(c.cnn, labels=nan(Y), sets=_SETS), ValueError
    ),
    row(
        "evaluation.evaluate_corruptions",
        "labels",
        "mismatched",
        lambda c: _ec(c.cnn, labels=Y[:-1], sets=_SETS),
        ValueError,
    ),
    row(
        "evaluation.evaluate_corruptions",
        "num_bins",
        "zero",
        lambda c: _ec(c.cnn, labels=Y, sets=_SETS, num_bins=0),
        ValueError,
    ),
    row(
        "evaluation.evaluate_corruptions",
        "batch_size",
        "zero",
        lambda c: _ec(c.cnn, labels=Y, sets=_SETS, batch_size=0),
        ValueError,
    ),
    row(
        "evaluation.evaluate_corruptions", "source", "unknown", lambda c: _ec(c.cnn, labels=Y, source="web"), ValueError
    ),
    row(
        "evaluation.evaluate_corruptions",
        "sets",
        "bad_severity",
        lambda c: _ec(c.cnn, labels=Y, sets={("fog", 9): UINT8}),
        ValueError,
    ),
    row(
        "evaluation.evaluate_corruptions",
        "sets",
        "np_int64",
        lambda c: _ec(c.cnn, labels=Y, sets={("gaussian_noise", np.int64(1)): UINT8}),
        same_as(lambda c: _ec(c.cnn, labels=Y, sets=_SETS)),
    ),
    row(
        "evaluation.evaluate_corruptions",
        "model",
        "list",
        lambda c: _ec([c.cnn], labels=Y, sets=_SETS),
        same_as(lambda c: _ec(c.cnn, labels=Y, sets=_SETS)),
    ),
    row(
        "evaluation.evaluate_corruptions",
        "model",
        "multi_output",
        lambda c: _ec(c.multi, labels=Y, sets=_SETS),
        ValueError,
    ),
]


ROWS += [
    row(
        "evaluate_regression",
        "batch_size",
        "np_int64",
        lambda c: _er(c.gauss, X, Y_REG, batch_size=np.int64(4)),
        same_as(lambda c: _er(c.gauss, X, Y_REG, batch_size=4)),
    ),
    row(
        "evaluation.member_gaussians",
        "batch_size",
        "np_int64",
        lambda c: evaluation.member_gaussians(c.gauss, X, batch_size=np.int64(4), verbose=0),
        same_as(lambda c: evaluation.member_gaussians(c.gauss, X, batch_size=4, verbose=0)),
    ),
    row(
        "evaluation.corrupted_sets",
        "seed",
        "np_int64",
        lambda c: evaluation.corrupted_sets(_IMAGES32, ["gaussian_noise"], [1], seed=np.int64(3)),
        same_as(lambda c: evaluation.corrupted_sets(_IMAGES32, ["gaussian_noise"], [1], seed=3)),
    ),
    row(
        "evaluation.evaluate_corruptions",
        "num_bins",
        "np_int64",
        lambda c: _ec(c.cnn, labels=Y, sets=_SETS, num_bins=np.int64(5)),
        same_as(lambda c: _ec(c.cnn, labels=Y, sets=_SETS, num_bins=5)),
    ),
    row(
        "evaluation.evaluate_corruptions",
        "batch_size",
        "np_int64",
        lambda c: _ec(c.cnn, labels=Y, sets=_SETS, batch_size=np.int64(4)),
        same_as(lambda c: _ec(c.cnn, labels=Y, sets=_SETS, batch_size=4)),
    ),
]


# -- keras_mimo.calibration

_ft = calibration.fit_temperature
_LOG_PROBS = np.log(PROBS)
_tfl = functools.partial(quiet, calibration.temperature_from_log_probabilities)


def _wrapper_rows(name, build, x=X):
    """A wrapper (`with_*`) built under each mixed policy predicts what its float32 build predicts."""
    rows = []
    for policy in POLICIES:
        call, check = _under_policy_close_to_float32(build, lambda model, c: model.predict(x, verbose=0))
        rows.append(row(name, "dtype", policy, functools.partial(call, policy=policy), check))
    return rows


ROWS += [
    row("calibration.fit_temperature", "x", "nan", lambda c: _ft(c.clf, nan(X), Y), ValueError),
    row("calibration.fit_temperature", "x", "empty", lambda c: _ft(mlp(), empty(X), empty(Y)), ValueError),
    row("calibration.fit_temperature", "y", "nan", lambda c: _ft(c.clf, X, nan(Y)), ValueError),
    row("calibration.fit_temperature", "y", "mismatched", lambda c: _ft(c.clf, X, Y[:-1]), ValueError),
    row(
        "calibration.fit_temperature", "bounds", "reversed", lambda c: _ft(c.clf, X, Y, bounds=(20.0, 0.05)), ValueError
    ),
    row(
        "calibration.fit_temperature",
        "bounds",
        "np_float32",
        lambda c: quiet(_ft, c.clf, X, Y, bounds=(np.float32(0.5), np.float32(4.0))),
        same_as(lambda c: quiet(_ft, c.clf, X, Y, bounds=(0.5, 4.0)), rtol=1e-4),
    ),
    row("calibration.fit_temperature", "batch_size", "zero", lambda c: _ft(c.clf, X, Y, batch_size=0), ValueError),
    row(
        "calibration.fit_temperature",
        "batch_size",
        "np_int64",
        lambda c: quiet(_ft, c.clf, X, Y, batch_size=np.int64(4)),
        same_as(lambda c: quiet(_ft, c.clf, X, Y, batch_size=4)),
    ),
    row(
        "calibration.fit_temperature",
        "model",
        "list",
        lambda c: quiet(_ft, [c.clf], X, Y),
        same_as(lambda c: quiet(_ft, c.clf, X, Y)),
    ),
    row("calibration.fit_temperature", "model", "multi_output", lambda c: _ft(c.multi, X, Y), ValueError),
    row("calibration.fit_temperature", "model", "ensemble_size_1", lambda c: quiet(_ft, c.clf1, X, Y), finite),
    row(
        "calibration.temperature_from_log_probabilities",
        "log_probs",
        "nan",
        lambda c: _tfl(nan(_LOG_PROBS), LABELS),
        ValueError,
    ),
    row(
        "calibration.temperature_from_log_probabilities",
        "log_probs",
        "empty",
        lambda c: _tfl(empty(_LOG_PROBS), empty(LABELS)),
        ValueError,
    ),
    row(
        "calibration.temperature_from_log_probabilities",
        "log_probs",
        "sequence",
        lambda c: _tfl(np.log(SEQ_PROBS), SEQ_LABELS),
        ValueError,
    ),
    row(
        "calibration.temperature_from_log_probabilities",
        "labels",
        "nan",
        lambda c: _tfl(_LOG_PROBS, nan(LABELS)),
        ValueError,
    ),
    row(
        "calibration.temperature_from_log_probabilities",
        "labels",
        "mismatched",
        lambda c: _tfl(_LOG_PROBS, LABELS[:-1]),
        ValueError,
    ),
    row(
        "calibration.temperature_from_log_probabilities",
        "bounds",
        "np_float32",
        lambda c: _tfl(_LOG_PROBS, LABELS, bounds=(np.float32(0.5), np.float32(4.0))),
        same_as(lambda c: _tfl(_LOG_PROBS, LABELS, bounds=(0.5, 4.0)), rtol=1e-4),
    ),
    row(
        "calibration.temperature_nll",
        "temperature",
        "zero",
        lambda c: calibration.temperature_nll(_LOG_PROBS, LABELS, 0.0),
        ValueError,
    ),
    row(
        "calibration.temperature_nll",
        "temperature",
        "np_float32",
        lambda c: calibration.temperature_nll(_LOG_PROBS, LABELS, np.float32(2.0)),
        same_as(lambda c: calibration.temperature_nll(_LOG_PROBS, LABELS, 2.0)),
    ),
    row(
        "calibration.temperature_nll",
        "log_probs",
        "nan",
        lambda c: calibration.temperature_nll(nan(_LOG_PROBS), LABELS, 2.0),
        ValueError,
    ),
    row(
        "calibration.temperature_nll",
        "labels",
        "mismatched",
        lambda c: calibration.temperature_nll(_LOG_PROBS, LABELS[:-1], 2.0),
        ValueError,
    ),
    row(
        "calibration.scaled_log_probabilities",
        "temperature",
        "zero",
        lambda c: calibration.scaled_log_probabilities(_LOG_PROBS, 0.0),
        ValueError,
    ),
    row(
        "calibration.scaled_log_probabilities",
        "temperature",
        "negative",
        lambda c: calibration.scaled_log_probabilities(_LOG_PROBS, -2.0),
        ValueError,
    ),
    row(
        "calibration.scaled_log_probabilities",
        "temperature",
        "np_float32",
        lambda c: calibration.scaled_log_probabilities(_LOG_PROBS, np.float32(2.0)),
        same_as(lambda c: calibration.scaled_log_probabilities(_LOG_PROBS, 2.0)),
    ),
    row(
        "calibration.scaled_log_probabilities",
        "log_probs",
        "nan",
        lambda c: calibration.scaled_log_probabilities(nan(_LOG_PROBS), 2.0),
        ValueError,
    ),
    row(
        "calibration.ensemble_log_probabilities",
        "x",
        "nan",
        lambda c: calibration.ensemble_log_probabilities(c.clf, nan(X)),
        ValueError,
    ),
    row(
        "calibration.ensemble_log_probabilities",
        "batch_size",
        "zero",
        lambda c: calibration.ensemble_log_probabilities(c.clf, X, batch_size=0),
        ValueError,
    ),
    row(
        "calibration.ensemble_log_probabilities",
        "model",
        "list",
        lambda c: calibration.ensemble_log_probabilities([c.clf], X),
        same_as(lambda c: calibration.ensemble_log_probabilities(c.clf, X)),
    ),
    row(
        "calibration.ensemble_log_probabilities",
        "model",
        "multi_output",
        lambda c: calibration.ensemble_log_probabilities(c.multi, X),
        ValueError,
    ),
    row(
        "calibration.fit_std_scale", "y", "nan", lambda c: calibration.fit_std_scale(c.gauss, X, nan(Y_REG)), ValueError
    ),
    row(
        "calibration.fit_std_scale",
        "y",
        "mismatched",
        lambda c: calibration.fit_std_scale(c.gauss, X, Y_REG[:-1]),
        ValueError,
    ),
    row(
        "calibration.fit_std_scale", "x", "nan", lambda c: calibration.fit_std_scale(c.gauss, nan(X), Y_REG), ValueError
    ),
    row(
        "calibration.fit_std_scale",
        "model",
        "classifier",
        lambda c: calibration.fit_std_scale(c.clf, X, Y_REG),
        ValueError,
    ),
    row(
        "calibration.fit_std_scale",
        "model",
        "negative_std",
        lambda c: calibration.fit_std_scale(c.negative_std, X, Y_REG),
        ValueError,
    ),
    row(
        "calibration.fit_std_scale",
        "model",
        "list",
        lambda c: calibration.fit_std_scale([c.gauss], X, Y_REG),
        same_as(lambda c: calibration.fit_std_scale(c.gauss, X, Y_REG)),
    ),
    row(
        "calibration.fit_std_scale",
        "model",
        "ensemble_size_1",
        lambda c: calibration.fit_std_scale(c.gauss1, X, Y_REG),
        finite,
    ),
    row(
        "calibration.fit_std_scale",
        "batch_size",
        "np_int64",
        lambda c: calibration.fit_std_scale(c.gauss, X, Y_REG, batch_size=np.int64(4)),
        same_as(lambda c: calibration.fit_std_scale(c.gauss, X, Y_REG, batch_size=4)),
    ),
    row(
        "calibration.with_temperature",
        "temperature",
        "zero",
        lambda c: calibration.with_temperature(c.clf, 0.0),
        ValueError,
    ),
    row(
        "calibration.with_temperature",
        "temperature",
        "nan",
        lambda c: calibration.with_temperature(c.clf, float("nan")),
        ValueError,
    ),
    row(
        "calibration.with_temperature",
        "temperature",
        "np_float32",
        lambda c: calibration.with_temperature(c.clf, np.float32(2.0)).predict(X, verbose=0),
        same_as(lambda c: calibration.with_temperature(c.clf, 2.0).predict(X, verbose=0)),
    ),
    row(
        "calibration.with_temperature",
        "model",
        "list",
        lambda c: calibration.with_temperature([c.clf, c.plain], 2.0).predict(X, verbose=0),
        lambda r, c: _close(np_(r).sum(-1), np.ones(N), atol=1e-5),
    ),
    row(
        "calibration.with_temperature",
        "model",
        "multi_output",
        lambda c: calibration.with_temperature(c.multi, 2.0),
        ValueError,
    ),
    *_wrapper_rows("calibration.with_temperature", lambda c: calibration.with_temperature(c.clf, 2.0)),
    row("calibration.with_std_scale", "scale", "zero", lambda c: calibration.with_std_scale(c.gauss, 0.0), ValueError),
    row(
        "calibration.with_std_scale",
        "scale",
        "np_float32",
        lambda c: calibration.with_std_scale(c.gauss, np.float32(2.0)).predict(X, verbose=0),
        same_as(lambda c: calibration.with_std_scale(c.gauss, 2.0).predict(X, verbose=0)),
    ),
    row(
        "calibration.with_std_scale",
        "model",
        "classifier",
        lambda c: calibration.with_std_scale(c.clf, 2.0),
        ValueError,
    ),
    row(
        "calibration.with_std_scale",
        "model",
        "list",
        lambda c: calibration.with_std_scale([c.gauss, c.plain_gauss], 2.0).predict(X, verbose=0),
        finite,
    ),
    *_wrapper_rows("calibration.with_std_scale", lambda c: calibration.with_std_scale(c.gauss, 2.0)),
    row(
        "calibration.TemperatureScaling",
        "temperature",
        "zero",
        lambda c: calibration.TemperatureScaling(0.0),
        ValueError,
    ),
    row(
        "calibration.TemperatureScaling",
        "temperature",
        "negative",
        lambda c: calibration.TemperatureScaling(-1.0),
        ValueError,
    ),
    row(
        "calibration.TemperatureScaling",
        "temperature",
        "np_float32",
        lambda c: (lambda l: (l(PROBS), json_config(l)))(calibration.TemperatureScaling(np.float32(2.0), name="t")),
        same_as(lambda c: (lambda l: (l(PROBS), json_config(l)))(calibration.TemperatureScaling(2.0, name="t"))),
    ),
    row(
        "calibration.TemperatureScaling",
        "ensemble_method",
        "gaussian",
        lambda c: calibration.TemperatureScaling(2.0, "gaussian"),
        ValueError,
    ),
    row("calibration.StdScaling", "scale", "zero", lambda c: calibration.StdScaling(0.0), ValueError),
    row("calibration.StdScaling", "scale", "nan", lambda c: calibration.StdScaling(float("nan")), ValueError),
    row(
        "calibration.StdScaling",
        "scale",
        "np_float32",
        lambda c: (lambda l: (l(G_PRED), json_config(l)))(calibration.StdScaling(np.float32(2.0), name="s")),
        same_as(lambda c: (lambda l: (l(G_PRED), json_config(l)))(calibration.StdScaling(2.0, name="s"))),
    ),
    row("calibration.StdScaling", "inputs", "odd_columns", lambda c: calibration.StdScaling(2.0)(PROBS), ValueError),
]
for _policy in POLICIES:
    ROWS += [
        row(
            "calibration.TemperatureScaling",
            "dtype",
            _policy,
            lambda c, p=_policy: under(p, lambda: calibration.TemperatureScaling(2.0)(PROBS)),
            same_as(lambda c: calibration.TemperatureScaling(2.0)(PROBS)),
        ),
        row(
            "calibration.StdScaling",
            "dtype",
            _policy,
            lambda c, p=_policy: under(p, lambda: calibration.StdScaling(2.0)(G_PRED)),
            same_as(lambda c: calibration.StdScaling(2.0)(G_PRED)),
        ),
    ]


ROWS += [
    row(
        "calibration.ensemble_log_probabilities",
        "batch_size",
        "np_int64",
        lambda c: calibration.ensemble_log_probabilities(c.clf, X, batch_size=np.int64(4)),
        same_as(lambda c: calibration.ensemble_log_probabilities(c.clf, X, batch_size=4)),
    ),
    row(
        "calibration.fit_std_scale",
        "x",
        "empty",
        lambda c: calibration.fit_std_scale(mlp(activation=None, units=1, method="gaussian"), empty(X), empty(Y_REG)),
        ValueError,
    ),
    row(
        "calibration.fit_std_scale",
        "model",
        "multi_output",
        lambda c: calibration.fit_std_scale(c.multi, X, Y_REG),
        ValueError,
    ),
    row(
        "calibration.with_std_scale",
        "model",
        "multi_output",
        lambda c: calibration.with_std_scale(c.multi, 2.0),
        ValueError,
    ),
    row(
        "calibration.with_temperature",
        "model",
        "ensemble_size_1",
        lambda c: calibration.with_temperature(c.clf1, 2.0).predict(X, verbose=0),
        lambda r, c: _close(np_(r).sum(-1), np.ones(N), atol=1e-5),
    ),
]


# -- keras_mimo.conformal

_fps = functools.partial(quiet, conformal.fit_prediction_sets)
_fpi = functools.partial(quiet, conformal.fit_prediction_intervals)
ROWS += [
    row("conformal.class_scores", "score", "unknown", lambda c: conformal.class_scores(PROBS, "lab"), ValueError),
    row(
        "conformal.class_scores",
        "lam",
        "negative",
        lambda c: conformal.class_scores(PROBS, "raps", lam=-1.0),
        ValueError,
    ),
    row(
        "conformal.class_scores",
        "k_reg",
        "fractional",
        lambda c: conformal.class_scores(PROBS, "raps", k_reg=1.5),
        (ValueError, TypeError),
    ),
    row(
        "conformal.class_scores",
        "k_reg",
        "np_int64",
        lambda c: conformal.class_scores(PROBS, "raps", k_reg=np.int64(1)),
        same_as(lambda c: conformal.class_scores(PROBS, "raps", k_reg=1)),
    ),
    row(
        "conformal.class_scores",
        "lam",
        "np_float32",
        lambda c: conformal.class_scores(PROBS, "raps", lam=np.float32(0.5), k_reg=1),
        same_as(lambda c: conformal.class_scores(PROBS, "raps", lam=0.5, k_reg=1)),
    ),
    row("conformal.class_scores", "probs", "nan", lambda c: conformal.class_scores(nan(PROBS)), ValueError),
    row("conformal.class_scores", "probs", "sequence", lambda c: conformal.class_scores(SEQ_PROBS), ValueError),
    row(
        "conformal.class_scores",
        "probs",
        "empty",
        lambda c: conformal.class_scores(empty(PROBS), "aps"),
        shape_is(0, K),
    ),
    row("conformal.conformal_quantile", "alpha", "zero", lambda c: conformal.conformal_quantile(CONF, 0.0), ValueError),
    row("conformal.conformal_quantile", "alpha", "one", lambda c: conformal.conformal_quantile(CONF, 1.0), ValueError),
    row(
        "conformal.conformal_quantile",
        "alpha",
        "np_float32",
        lambda c: conformal.conformal_quantile(CONF, np.float32(0.25)),
        same_as(lambda c: conformal.conformal_quantile(CONF, 0.25)),
    ),
    row(
        "conformal.conformal_quantile",
        "scores",
        "nan",
        lambda c: conformal.conformal_quantile(nan(CONF), 0.25),
        ValueError,
    ),
    row(
        "conformal.conformal_quantile",
        "scores",
        "empty",
        lambda c: conformal.conformal_quantile(empty(CONF), 0.25),
        ValueError,
    ),
    row(
        "conformal.prediction_sets",
        "threshold",
        "negative",
        lambda c: conformal.prediction_sets(PROBS, -0.5),
        ValueError,
    ),
    row(
        "conformal.prediction_sets",
        "threshold",
        "nan",
        lambda c: conformal.prediction_sets(PROBS, float("nan")),
        ValueError,
    ),
    row(
        "conformal.prediction_sets",
        "threshold",
        "np_float32",
        lambda c: conformal.prediction_sets(PROBS, np.float32(0.5)),
        same_as(lambda c: conformal.prediction_sets(PROBS, 0.5)),
    ),
    row("conformal.prediction_sets", "probs", "nan", lambda c: conformal.prediction_sets(nan(PROBS), 0.5), ValueError),
    row(
        "conformal.prediction_sets",
        "probs",
        "sequence",
        lambda c: conformal.prediction_sets(SEQ_PROBS, 0.5),
        ValueError,
    ),
    row(
        "conformal.prediction_sets",
        "include_top_class",
        "not_bool",
        lambda c: conformal.prediction_sets(PROBS, 0.5, include_top_class="yes"),
        TypeError,
    ),
    row("conformal.fit_prediction_sets", "alpha", "zero", lambda c: _fps(c.clf, X, Y, alpha=0.0), ValueError),
    row(
        "conformal.fit_prediction_sets",
        "alpha",
        "np_float32",
        lambda c: _fps(c.clf, X, Y, alpha=np.float32(0.25)),
        same_as(lambda c: _fps(c.clf, X, Y, alpha=0.25)),
    ),
    row("conformal.fit_prediction_sets", "x", "nan", lambda c: _fps(c.clf, nan(X), Y), ValueError),
    row("conformal.fit_prediction_sets", "y", "nan", lambda c: _fps(c.clf, X, nan(Y)), ValueError),
    row("conformal.fit_prediction_sets", "y", "mismatched", lambda c: _fps(c.clf, X, Y[:-1]), ValueError),
    row("conformal.fit_prediction_sets", "batch_size", "zero", lambda c: _fps(c.clf, X, Y, batch_size=0), ValueError),
    row(
        "conformal.fit_prediction_sets",
        "model",
        "list",
        lambda c: _fps([c.clf], X, Y, alpha=0.25),
        same_as(lambda c: _fps(c.clf, X, Y, alpha=0.25)),
    ),
    row("conformal.fit_prediction_sets", "model", "multi_output", lambda c: _fps(c.multi, X, Y), ValueError),
    row("conformal.fit_prediction_sets", "model", "ensemble_size_1", lambda c: _fps(c.clf1, X, Y, alpha=0.25), finite),
    row(
        "conformal.fit_prediction_intervals", "alpha", "zero", lambda c: _fpi(c.gauss, X, Y_REG, alpha=0.0), ValueError
    ),
    row(
        "conformal.fit_prediction_intervals",
        "alpha",
        "np_float32",
        lambda c: _fpi(c.gauss, X, Y_REG, alpha=np.float32(0.25)),
        same_as(lambda c: _fpi(c.gauss, X, Y_REG, alpha=0.25)),
    ),
    row("conformal.fit_prediction_intervals", "y", "nan", lambda c: _fpi(c.gauss, X, nan(Y_REG)), ValueError),
    row("conformal.fit_prediction_intervals", "y", "mismatched", lambda c: _fpi(c.gauss, X, Y_REG[:-1]), ValueError),
    row("conformal.fit_prediction_intervals", "model", "classifier", lambda c: _fpi(c.clf, X, Y_REG), ValueError),
    row(
        "conformal.fit_prediction_intervals",
        "model",
        "negative_std",
        lambda c: _fpi(c.negative_std, X, Y_REG),
        ValueError,
    ),
    row(
        "conformal.fit_prediction_intervals",
        "model",
        "list",
        lambda c: _fpi([c.gauss], X, Y_REG, alpha=0.25),
        same_as(lambda c: _fpi(c.gauss, X, Y_REG, alpha=0.25)),
    ),
    row(
        "conformal.with_prediction_sets",
        "threshold",
        "negative",
        lambda c: conformal.with_prediction_sets(c.clf, -0.5),
        ValueError,
    ),
    row(
        "conformal.with_prediction_sets",
        "threshold",
        "np_float32",
        lambda c: conformal.with_prediction_sets(c.clf, np.float32(0.5)).predict(X, verbose=0),
        same_as(lambda c: conformal.with_prediction_sets(c.clf, 0.5).predict(X, verbose=0)),
    ),
    row(
        "conformal.with_prediction_sets",
        "model",
        "multi_output",
        lambda c: conformal.with_prediction_sets(c.multi, 0.5),
        ValueError,
    ),
    row(
        "conformal.with_prediction_sets",
        "model",
        "list",
        lambda c: conformal.with_prediction_sets([c.clf, c.plain], 0.5).predict(X, verbose=0),
        lambda r, c: _close(np_(r).max(-1), np.ones(N)),
    ),
    *_wrapper_rows("conformal.with_prediction_sets", lambda c: conformal.with_prediction_sets(c.clf, 0.5)),
    row(
        "conformal.with_prediction_intervals",
        "quantile",
        "negative",
        lambda c: conformal.with_prediction_intervals(c.gauss, -1.0),
        ValueError,
    ),
    row(
        "conformal.with_prediction_intervals",
        "quantile",
        "np_float32",
        lambda c: conformal.with_prediction_intervals(c.gauss, np.float32(1.5)).predict(X, verbose=0),
        same_as(lambda c: conformal.with_prediction_intervals(c.gauss, 1.5).predict(X, verbose=0)),
    ),
    row(
        "conformal.with_prediction_intervals",
        "model",
        "classifier",
        lambda c: conformal.with_prediction_intervals(c.clf, 1.5),
        ValueError,
    ),
    *_wrapper_rows("conformal.with_prediction_intervals", lambda c: conformal.with_prediction_intervals(c.gauss, 1.5)),
    row("conformal.PredictionSets", "threshold", "negative", lambda c: conformal.PredictionSets(-1.0), ValueError),
    row(
        "conformal.PredictionSets",
        "k_reg",
        "negative",
        lambda c: conformal.PredictionSets(0.5, "raps", k_reg=-1),
        ValueError,
    ),
    row(
        "conformal.PredictionSets",
        "threshold",
        "np_float32",
        lambda c: (lambda l: (l(PROBS), json_config(l)))(conformal.PredictionSets(np.float32(0.5), name="p")),
        same_as(lambda c: (lambda l: (l(PROBS), json_config(l)))(conformal.PredictionSets(0.5, name="p"))),
    ),
    row(
        "conformal.PredictionIntervals",
        "quantile",
        "negative",
        lambda c: conformal.PredictionIntervals(-1.0),
        ValueError,
    ),
    row(
        "conformal.PredictionIntervals",
        "quantile",
        "np_float32",
        lambda c: (lambda l: (l(G_PRED), json_config(l)))(conformal.PredictionIntervals(np.float32(1.5), name="p")),
        same_as(lambda c: (lambda l: (l(G_PRED), json_config(l)))(conformal.PredictionIntervals(1.5, name="p"))),
    ),
]
for _policy in POLICIES:
    ROWS += [
        row(
            "conformal.PredictionSets",
            "dtype",
            _policy,
            lambda c, p=_policy: under(p, lambda: conformal.PredictionSets(0.5)(PROBS)),
            same_as(lambda c: conformal.PredictionSets(0.5)(PROBS)),
        ),
        row(
            "conformal.PredictionIntervals",
            "dtype",
            _policy,
            lambda c, p=_policy: under(p, lambda: conformal.PredictionIntervals(1.5)(G_PRED)),
            same_as(lambda c: conformal.PredictionIntervals(1.5)(G_PRED)),
        ),
    ]


ROWS += [
    row("conformal.fit_prediction_sets", "x", "empty", lambda c: _fps(mlp(), empty(X), empty(Y)), ValueError),
    row(
        "conformal.fit_prediction_sets",
        "batch_size",
        "np_int64",
        lambda c: _fps(c.clf, X, Y, alpha=0.25, batch_size=np.int64(4)),
        same_as(lambda c: _fps(c.clf, X, Y, alpha=0.25, batch_size=4)),
    ),
    row("conformal.fit_prediction_intervals", "model", "multi_output", lambda c: _fpi(c.multi, X, Y_REG), ValueError),
    row(
        "conformal.fit_prediction_intervals",
        "model",
        "ensemble_size_1",
        lambda c: _fpi(c.gauss1, X, Y_REG, alpha=0.25),
        finite,
    ),
    row(
        "conformal.with_prediction_intervals",
        "model",
        "multi_output",
        lambda c: conformal.with_prediction_intervals(c.multi, 1.5),
        ValueError,
    ),
    row(
        "conformal.with_prediction_intervals",
        "model",
        "list",
        lambda c: conformal.with_prediction_intervals([c.gauss, c.plain_gauss], 1.5).predict(X, verbose=0),
        finite,
    ),
    row(
        "conformal.PredictionSets",
        "k_reg",
        "np_int64",
        lambda c: conformal.PredictionSets(0.5, "raps", k_reg=np.int64(1))(PROBS),
        same_as(lambda c: conformal.PredictionSets(0.5, "raps", k_reg=1)(PROBS)),
    ),
]


# -- keras_mimo.ensembles: reading models as ensembles

_ens = ensembles.as_ensemble
ROWS += [
    row("ensembles.as_ensemble", "model_or_models", "not_a_model", lambda c: _ens("model"), TypeError),
    row("ensembles.as_ensemble", "model_or_models", "empty", lambda c: _ens([]), TypeError),
    row(
        "ensembles.as_ensemble",
        "model_or_models",
        "list",
        lambda c: _ens([c.clf, c.plain]).member_probabilities(X)[0],
        same_as(lambda c: np.concatenate([_ens(m).member_probabilities(X)[0] for m in (c.clf, c.plain)], 1)),
    ),
    row(
        "ensembles.as_ensemble",
        "model_or_models",
        "multi_output",
        lambda c: _ens(c.multi).member_probabilities(X),
        ValueError,
    ),
    row(
        "ensembles.as_ensemble",
        "model_or_models",
        "ensemble_size_1",
        lambda c: _ens(c.clf1).member_probabilities(X)[0].shape,
        is_((N, 1, K)),
    ),
    row("ensembles.EnsembleReader", "model_or_models", "not_a_model", lambda c: ensembles.EnsembleReader(3), TypeError),
    row(
        "ensembles.EnsembleReader",
        "x",
        "nan",
        lambda c: ensembles.EnsembleReader(c.clf).member_probabilities(nan(X)),
        ValueError,
    ),
    row(
        "ensembles.EnsembleReader",
        "x",
        "empty",
        lambda c: ensembles.EnsembleReader(c.clf).member_probabilities(X[:0]),
        ValueError,
    ),
    row(
        "ensembles.EnsembleReader",
        "batch_size",
        "zero",
        lambda c: ensembles.EnsembleReader(c.clf).member_probabilities(X, batch_size=0),
        ValueError,
    ),
    row(
        "ensembles.EnsembleReader",
        "batch_size",
        "np_int64",
        lambda c: ensembles.EnsembleReader(c.clf).member_probabilities(X, batch_size=np.int64(4))[0],
        same_as(lambda c: ensembles.EnsembleReader(c.clf).member_probabilities(X, batch_size=4)[0]),
    ),
    row(
        "ensembles.Ensemble",
        "combine",
        "unknown",
        lambda c: ensembles.Ensemble([c.clf], ["mean"], "median"),
        ValueError,
    ),
    row(
        "ensembles.Ensemble",
        "models",
        "list",
        lambda c: ensembles.Ensemble([c.clf, c.plain], ["mean", "mean"])(X),
        same_as(lambda c: np.concatenate([_ens(m).member_probabilities(X)[0] for m in (c.clf, c.plain)], 1).mean(1)),
    ),
]


# -- keras_mimo.uncertainty

_wu = keras_mimo.with_uncertainty
ROWS += [
    row("with_uncertainty", "model", "not_a_model", lambda c: _wu("model"), TypeError),
    row("with_uncertainty", "model", "list", lambda c: _wu([c.clf, c.plain]).predict(X, verbose=0), finite),
    row(
        "with_uncertainty",
        "model",
        "multi_output",
        lambda c: _wu(c.multi).predict(X, verbose=0),
        lambda r, c: (
            finite(r),
            _close([sorted(d) for d in r], [sorted(_wu(c.clf).output), sorted(_wu(c.gauss).output)]),
        ),
    ),
    row(
        "with_uncertainty",
        "model",
        "ensemble_size_1",
        lambda c: _wu(c.clf1).predict(X, verbose=0)["mutual_information"],
        same_as(lambda c: np.zeros(N)),
    ),
    *_wrapper_rows("with_uncertainty", lambda c: _wu(c.clf)),
    row(
        "uncertainty.ClassifierUncertainty",
        "members",
        "no_member_axis",
        lambda c: uncertainty.ClassifierUncertainty()(PROBS),
        ValueError,
    ),
    row(
        "uncertainty.GaussianUncertainty",
        "members",
        "odd_columns",
        lambda c: uncertainty.GaussianUncertainty()(MEMBERS),
        ValueError,
    ),
]
for _policy in POLICIES:
    ROWS += [
        row(
            "uncertainty.ClassifierUncertainty",
            "dtype",
            _policy,
            lambda c, p=_policy: under(p, lambda: uncertainty.ClassifierUncertainty()(MEMBERS)),
            same_as(lambda c: uncertainty.ClassifierUncertainty()(MEMBERS)),
        ),
        row(
            "uncertainty.GaussianUncertainty",
            "dtype",
            _policy,
            lambda c, p=_policy: under(p, lambda: uncertainty.GaussianUncertainty()(G_MEMBERS)),
            same_as(lambda c: uncertainty.GaussianUncertainty()(G_MEMBERS)),
        ),
    ]


# -- keras_mimo.mixing (keras.ops: used inside model graphs)

# (N, M), rows sum to 1; a tensor, as inside MixMoInput (torch tensors do not multiply numpy arrays)
_RATIOS = keras.ops.convert_to_tensor(np.asarray(MEMBERS[:, :, 0] / MEMBERS[:, :, 0].sum(-1, keepdims=True), "float32"))
ROWS += [
    row("mixing.sample_ratios", "alpha", "zero", lambda c: mixing.sample_ratios(N, M, 0.0, 0), ValueError),
    row("mixing.sample_ratios", "alpha", "negative", lambda c: mixing.sample_ratios(N, M, -1.0, 0), ValueError),
    row("mixing.sample_ratios", "alpha", "nan", lambda c: mixing.sample_ratios(N, M, float("nan"), 0), ValueError),
    row(
        "mixing.sample_ratios",
        "alpha",
        "np_float32",
        lambda c: mixing.sample_ratios(N, M, np.float32(2.0), 0),
        same_as(lambda c: mixing.sample_ratios(N, M, 2.0, 0)),
    ),
    row("mixing.sample_ratios", "ensemble_size", "zero", lambda c: mixing.sample_ratios(N, 0, 2.0, 0), ValueError),
    row(
        "mixing.sample_ratios",
        "ensemble_size",
        "np_int64",
        lambda c: mixing.sample_ratios(N, np.int64(M), 2.0, 0),
        same_as(lambda c: mixing.sample_ratios(N, M, 2.0, 0)),
    ),
    row(
        "mixing.sample_ratios",
        "ensemble_size",
        "ensemble_size_1",
        lambda c: mixing.sample_ratios(N, 1, 2.0, 0),
        same_as(lambda c: np.ones((N, 1))),
    ),
    row("mixing.sample_ratios", "batch", "negative", lambda c: mixing.sample_ratios(-1, M, 2.0, 0), ValueError),
    row("mixing.sample_ratios", "batch", "fractional", lambda c: mixing.sample_ratios(2.5, M, 2.0, 0), TypeError),
    row(
        "mixing.sample_ratios",
        "batch",
        "np_int64",
        lambda c: mixing.sample_ratios(np.int64(N), M, 2.0, 0),
        same_as(lambda c: mixing.sample_ratios(N, M, 2.0, 0)),
    ),
    row("mixing.sample_ratios", "batch", "zero", lambda c: mixing.sample_ratios(0, M, 2.0, 0), shape_is(0, M)),
    row(
        "mixing.linear_masks",
        "data_format",
        "unknown",
        lambda c: mixing.linear_masks(_RATIOS, 4, 4, "nchw"),
        ValueError,
    ),
    row(
        "mixing.linear_masks",
        "data_format",
        "channels_first",
        lambda c: mixing.linear_masks(_RATIOS, 4, 5, "channels_first"),
        same_as(lambda c: np.moveaxis(np_(mixing.linear_masks(_RATIOS, 4, 5)), -1, 2)),
    ),
    row("mixing.linear_masks", "height", "zero", lambda c: mixing.linear_masks(_RATIOS, 0, 4), ValueError),
    row("mixing.linear_masks", "height", "negative", lambda c: mixing.linear_masks(_RATIOS, -4, 4), ValueError),
    row(
        "mixing.linear_masks",
        "width",
        "np_int64",
        lambda c: mixing.linear_masks(_RATIOS, 4, np.int64(5)),
        same_as(lambda c: mixing.linear_masks(_RATIOS, 4, 5)),
    ),
    row(
        "mixing.cut_masks",
        "data_format",
        "unknown",
        lambda c: mixing.cut_masks(_RATIOS, 4, 4, 0, 0, "nchw"),
        ValueError,
    ),
    row(
        "mixing.cut_masks",
        "data_format",
        "channels_first",
        lambda c: mixing.cut_masks(_RATIOS, 4, 5, 1, 0, "channels_first"),
        same_as(lambda c: np.moveaxis(np_(mixing.cut_masks(_RATIOS, 4, 5, 1, 0)), -1, 2)),
    ),
    row(
        "mixing.cut_masks", "boxed_member", "out_of_range", lambda c: mixing.cut_masks(_RATIOS, 4, 4, 5, 0), ValueError
    ),
    row("mixing.cut_masks", "height", "zero", lambda c: mixing.cut_masks(_RATIOS, 0, 4, 0, 0), ValueError),
    row(
        "mixing.cut_masks",
        "height",
        "np_int64",
        lambda c: mixing.cut_masks(_RATIOS, np.int64(4), 5, 1, 0),
        same_as(lambda c: mixing.cut_masks(_RATIOS, 4, 5, 1, 0)),
    ),
    row(
        "mixing.mix",
        "masks",
        "mismatched",
        lambda c: mixing.mix(np.ones((N, M, 4, 4, 3), "float32"), np.ones((N, M, 5, 5, 1), "float32")),
        ValueError,
    ),
    row(
        "mixing.mix",
        "features",
        "mixed_float16",
        lambda c: mixing.mix(np.ones((N, M, 4, 4, 3), "float16"), mixing.linear_masks(_RATIOS, 4, 4)),
        lambda r, c: (
            _close(str(np_(r).dtype), "float16"),
            _close(np_(r).astype("float32"), np.full((N, 4, 4, 3), M), atol=1e-2),
        ),
    ),
    row(
        "mixing.loss_weights",
        "root",
        "zero",
        lambda c: mixing.loss_weights(mixing.linear_masks(_RATIOS, 4, 4), 0.0),
        ValueError,
    ),
    row(
        "mixing.loss_weights",
        "root",
        "negative",
        lambda c: mixing.loss_weights(mixing.linear_masks(_RATIOS, 4, 4), -3.0),
        ValueError,
    ),
    row(
        "mixing.loss_weights",
        "root",
        "np_float32",
        lambda c: mixing.loss_weights(mixing.linear_masks(_RATIOS, 4, 4), np.float32(3.0)),
        same_as(lambda c: mixing.loss_weights(mixing.linear_masks(_RATIOS, 4, 4), 3.0)),
    ),
    row("mixing.loss_weights", "masks", "wrong_rank", lambda c: mixing.loss_weights(_RATIOS), ValueError),
]


# -- the test


@pytest.mark.parametrize("case", ROWS)
def test_bad_input(case, ctx):
    outcome = case.outcome
    if isinstance(outcome, tuple) or (isinstance(outcome, type) and issubclass(outcome, Exception)):
        with pytest.raises(outcome, match=names(case.arg)):
            case.call(ctx)
    else:
        outcome(case.call(ctx), ctx)


# -- coverage: every public class and function has a row


def _public_modules():
    """`keras_mimo`, `keras_mimo.layers` and every module in a public `__all__`, recursively."""
    modules, todo = {}, [keras_mimo, importlib.import_module("keras_mimo.layers")]
    while todo:
        module = todo.pop()
        if module.__name__ in modules:
            continue
        modules[module.__name__] = module
        for name in _public_names(module):
            value = getattr(module, name)
            if isinstance(value, types.ModuleType) and value.__name__.startswith("keras_mimo"):
                todo.append(value)
    return modules


def _public_names(module):
    """`module.__all__`; a module without one: its own public classes and functions."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == module.__name__
    ]


def _callables():
    """`{qualified name: object}` for every public class and function (submodules and constants skipped)."""
    found = {}
    for module_name, module in _public_modules().items():
        for name in _public_names(module):
            value = getattr(module, name)
            if inspect.isclass(value) and issubclass(value, BaseException):
                continue  # an exception class is raised by the package, not called with arguments
            if inspect.isclass(value) or inspect.isfunction(value):
                found[f"{module_name}.{name}"] = value
    return found


def _resolve(dotted):
    obj = keras_mimo
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def test_every_public_name_has_a_row():
    covered = {id(_resolve(p.values[0].name)) for p in ROWS}
    missing = sorted(name for name, value in _callables().items() if id(value) not in covered)
    assert not missing, f"public callables without a row in the bad-input battery: {missing}"


def test_every_row_names_a_public_callable():
    public = {id(value) for value in _callables().values()}
    strays = sorted({p.values[0].name for p in ROWS if id(_resolve(p.values[0].name)) not in public})
    assert not strays, f"rows for names that are not public: {strays}"


def test_every_xfail_names_a_row():
    assert not set(XFAIL) - {p.values[0].id for p in ROWS}
