"""Split-conformal sets and intervals: scores, thresholds and coverage, checked independently.

Oracles: brute-force Python loops for the scores; `crepes` (an independent
conformal library) for the threshold rule, through its p-values: a class is
in our set exactly when crepes' non-smoothed p-value exceeds alpha. Every
model has fixed weights (no training): the behaviour under test is post-hoc
arithmetic.
"""

import math

import keras
import numpy as np
import pytest

import keras_mimo
from keras_mimo import calibration
from keras_mimo import conformal
from tests.conftest import BACKEND
from tests.testing import optional_import

crepes = pytest.importorskip("crepes")

K = 4


def classifier(scale=3.0, logits_head=False, ensemble_size=2, seed=0):
    """A fixed-weight MIMO classifier of `x` in R^4 (no training): member m reads the class from x."""
    inputs = keras.Input((4,))
    h = keras_mimo.MIMOInput(ensemble_size)(inputs)
    head = keras_mimo.MIMOHead(K, ensemble_size, activation=None if logits_head else "softmax")
    model = keras_mimo.MIMOModel(inputs, head(h))
    rng = np.random.default_rng(seed)
    kernel = np.zeros((4 * ensemble_size, K * ensemble_size), "float32")
    for m in range(ensemble_size):
        kernel[4 * m : 4 * m + 4, K * m : K * m + K] = scale * np.eye(4) + rng.normal(0, 0.3, (4, 4))
    head.dense.kernel.assign(kernel)
    return model


def exchangeable_data(n, seed):
    """Rows drawn i.i.d.: a class, its one-hot plus Gaussian noise (hard enough for sets of > 1 class)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, n)
    x = np.eye(K, dtype="float32")[y] + rng.normal(0, 0.7, (n, K)).astype("float32")
    return x, y


def numpy_probs(model, x):
    """The ensemble's mean member probability from predict_members, in numpy."""
    members = model.predict_members(x, verbose=0).astype("float64")
    if model.ensemble_method == "softmax_logits":
        members = np.exp(members - members.max(-1, keepdims=True))
        members /= members.sum(-1, keepdims=True)
    return members.mean(1)


def brute_force_scores(p, score, lam=0.01, k_reg=5):
    out = np.zeros_like(p)
    for n in range(len(p)):
        for c in range(p.shape[1]):
            at_least = [j for j in range(p.shape[1]) if p[n, j] >= p[n, c]]
            if score == "lac":
                out[n, c] = 1 - p[n, c]
            else:
                out[n, c] = sum(p[n, j] for j in at_least)
                if score == "raps":
                    out[n, c] += lam * max(0, len(at_least) - k_reg)
    return out


def top_classes(p):
    """The classes of highest probability in each row (all of them when tied)."""
    return p >= p.max(-1, keepdims=True)


@pytest.mark.parametrize("score,args", [("lac", {}), ("aps", {}), ("raps", {}), ("raps", {"lam": 0.2, "k_reg": 1})])
def test_class_scores_equal_brute_force_with_ties(score, args):
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(5), 30)
    p[:5] = [0.4, 0.4, 0.1, 0.1, 0.0]  # ties: "at least as likely" counts both
    expected = brute_force_scores(p, score, **args)
    np.testing.assert_allclose(conformal.class_scores(p, score, **args), expected, atol=1e-6)  # float32


@pytest.mark.parametrize("n", [9, 19, 50, 101, 999])
@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.2])
def test_threshold_rule_equals_crepes_p_values(n, alpha, recwarn):
    rng = np.random.default_rng(n)
    cal = rng.random(n)
    test = np.concatenate([rng.random((300, K)), np.sort(cal)[None, :K], np.sort(cal)[None, -K:]])
    q = conformal.conformal_quantile(cal, alpha)
    p_values = crepes.ConformalClassifier().fit(cal).predict_p(test, smoothing=False)
    np.testing.assert_array_equal(test <= q, p_values > alpha)
    # and the definition: the empirical (inverted-CDF) quantile at level ceil((n+1)(1-alpha))/n
    level = math.ceil(round((n + 1) * (1 - alpha), 9)) / n
    assert q == (np.quantile(cal, level, method="inverted_cdf") if level <= 1 else math.inf)


# Each kind of model once, each score at least twice: how a kind is read and how a score is computed
# from probabilities are independent (the scores alone: test_class_scores_equal_brute_force_with_ties).
@pytest.mark.parametrize(
    "kind,score",
    [
        ("mimo_probabilities", "lac"),
        ("mimo_logits", "aps"),
        ("deep_ensemble", "raps"),
        ("temperature", "lac"),
        ("plain_logits", "aps"),
        ("mimo_probabilities", "raps"),
    ],
)
def test_fitted_threshold_and_sets_equal_numpy_on_the_models_own_predictions(kind, score):
    mimo = classifier(logits_head=kind != "mimo_probabilities")
    args = {"k_reg": 2} if score == "raps" else {}
    x_cal, y_cal = exchangeable_data(300, seed=1)
    x_test, _ = exchangeable_data(200, seed=2)
    from_logits = None
    if kind == "mimo_probabilities" or kind == "mimo_logits":
        model, probs = mimo, numpy_probs
    elif kind == "deep_ensemble":
        model = [mimo, classifier(logits_head=True, seed=5)]
        probs = lambda ms, x: (numpy_probs(ms[0], x) * 2 + numpy_probs(ms[1], x) * 2) / 4
    elif kind == "temperature":
        model = calibration.with_temperature(mimo, 1.7)
        probs = lambda m, x: keras.ops.convert_to_numpy(keras.ops.softmax(m.predict(x, verbose=0).astype("float64")))
    else:  # a plain model that outputs logits
        inputs = keras.Input((4,))
        dense = keras.layers.Dense(K)
        model = keras.Model(inputs, dense(inputs))
        dense.kernel.assign(3.0 * np.eye(4, dtype="float32"))
        from_logits = True
        probs = lambda m, x: keras.ops.convert_to_numpy(keras.ops.softmax(m.predict(x, verbose=0).astype("float64")))
    p_cal, p_test = probs(model, x_cal), probs(model, x_test)
    q = conformal.fit_prediction_sets(model, x_cal, y_cal, alpha=0.1, score=score, from_logits=from_logits, **args)
    cal_scores = brute_force_scores(p_cal, score, **args)[np.arange(300), y_cal]
    assert q == pytest.approx(np.sort(cal_scores)[math.ceil(301 * 0.9) - 1], abs=1e-6)
    sets = conformal.with_prediction_sets(model, q, score, from_logits=from_logits, **args).predict(x_test, verbose=0)
    expected = (brute_force_scores(p_test, score, **args) <= q) | top_classes(p_test)
    near = np.abs(brute_force_scores(p_test, score, **args) - q) < 1e-5  # float32 vs float64 at the boundary
    assert sets.shape == (200, K) and set(np.unique(sets)) <= {0.0, 1.0}
    np.testing.assert_array_equal(sets.astype(bool)[~near], expected[~near])


@pytest.mark.parametrize("score", ["lac", "aps"])
def test_sets_cover_exchangeable_rows_and_are_informative(score):
    model = classifier(logits_head=True)
    x_cal, y_cal = exchangeable_data(1000, seed=3)
    x_test, y_test = exchangeable_data(4000, seed=4)
    q = conformal.fit_prediction_sets(model, x_cal, y_cal, alpha=0.1, score=score, batch_size=1000)
    sets = conformal.with_prediction_sets(model, q, score).predict(x_test, batch_size=1000, verbose=0).astype(bool)
    coverage = sets[np.arange(4000), y_test].mean()
    # >= 1 - alpha up to sampling error: 3 standard deviations of the calibration
    # quantile's coverage (sqrt(a(1-a)/n) = 0.0095) plus the test mean's (0.0047)
    assert coverage >= 0.9 - 0.035
    assert sets.sum(-1).mean() < K - 0.5


def test_prediction_sets_save_load_and_export(tmp_path):
    model = classifier(logits_head=True)
    x, y = exchangeable_data(200, seed=5)
    q = conformal.fit_prediction_sets(model, x, y, score="raps", k_reg=1, lam=0.1)
    wrapped = conformal.with_prediction_sets(model, q, "raps", k_reg=1, lam=0.1)
    expected = wrapped.predict(x, verbose=0)
    wrapped.save(tmp_path / "sets.keras")
    restored = keras.models.load_model(tmp_path / "sets.keras")
    np.testing.assert_array_equal(restored.predict(x, verbose=0), expected)
    layer = restored.get_layer("prediction_sets")
    assert (layer.threshold, layer.score, layer.lam, layer.k_reg) == (q, "raps", 0.1, 1)
    tf = optional_import("tensorflow") if BACKEND in ("tensorflow", "jax") else None
    if tf is not None:  # SavedModel export needs TensorFlow (absent from a JAX-only install)
        wrapped.export(str(tmp_path / "saved"), verbose=False)
        served = tf.saved_model.load(str(tmp_path / "saved"))  # keep it: its variables die with it
        np.testing.assert_array_equal(np.asarray(served.serve(x)), expected)


def gaussian_model(units=1, ensemble_size=2, seed=0):
    """A fixed-weight Gaussian MIMOModel of `x` in R^2 (no training): member means near `2 * x_0`, stds near 0.7."""
    inputs = keras.Input((2,))
    head = keras_mimo.MIMOHead(units, ensemble_size, ensemble_method="gaussian")
    model = keras_mimo.MIMOModel(inputs, head(keras_mimo.MIMOInput(ensemble_size)(inputs)), seed=0)
    rng = np.random.default_rng(seed)
    kernel = np.zeros((2 * ensemble_size, 2 * units * ensemble_size), "float32")
    for m in range(ensemble_size):
        columns = slice(2 * units * m, 2 * units * (m + 1))  # member m: [means (units), raw stds (units)]
        kernel[2 * m : 2 * m + 2, columns] = rng.normal(0, 0.2, (2, 2 * units))
        kernel[2 * m, 2 * units * m : 2 * units * m + units] += 2.0
    head.dense.kernel.assign(kernel)  # zero bias: raw stds near 0, stds near softplus(0) = 0.69
    return model


def regression_data(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 2)).astype("float32")
    y = (2 * x[:, :1] + (0.2 + np.abs(x[:, 1:])) * rng.normal(size=(n, 1))).astype("float32")
    return x, y


def test_interval_quantile_equals_numpy_and_crepes_and_the_intervals_cover(tmp_path):
    model = gaussian_model()
    x_cal, y_cal = regression_data(500, 1)
    x_test, y_test = regression_data(3000, 2)
    scale = conformal.fit_prediction_intervals(model, x_cal, y_cal, alpha=0.1)
    assert isinstance(scale, float)  # one unit: one float
    members = model.predict_members(x_cal, verbose=0).astype("float64")
    mu, sigma = members[..., :1], members[..., 1:]
    mean, std = mu.mean(1), np.sqrt((sigma**2).mean(1) + mu.var(1))
    interval = crepes.ConformalRegressor().fit(residuals=(y_cal - mean)[:, 0], sigmas=std[:, 0])
    bounds = interval.predict_int(y_hat=np.zeros(1), sigmas=np.ones(1), confidence=0.9)
    assert scale == pytest.approx(bounds[0, 1], rel=1e-6)
    wrapped = conformal.with_prediction_intervals(model, scale)
    got = wrapped.predict(x_test, batch_size=1000, verbose=0)
    test_members = model.predict_members(x_test, verbose=0).astype("float64")
    t_mu, t_sigma = test_members[..., :1], test_members[..., 1:]
    t_mean, t_std = t_mu.mean(1), np.sqrt((t_sigma**2).mean(1) + t_mu.var(1))
    np.testing.assert_allclose(
        got, np.concatenate([t_mean - scale * t_std, t_mean + scale * t_std], -1), rtol=1e-4, atol=1e-4
    )
    covered = (y_test >= got[:, :1]) & (y_test <= got[:, 1:])
    assert covered.mean() >= 0.9 - 0.035
    wrapped.save(tmp_path / "intervals.keras")
    np.testing.assert_allclose(
        keras.models.load_model(tmp_path / "intervals.keras").predict(x_test, batch_size=1000, verbose=0),
        got,
        rtol=1e-6,
    )


def test_too_few_calibration_rows_warn_and_every_set_is_full():
    model = classifier()
    x, y = exchangeable_data(5, seed=6)
    with pytest.warns(UserWarning, match="too few"):
        q = conformal.fit_prediction_sets(model, x, y, alpha=0.1)
    assert q == math.inf
    assert conformal.with_prediction_sets(model, q).predict(x, verbose=0).all()


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"alpha": 0.0}, ValueError, "alpha"),
        ({"alpha": 1.0}, ValueError, "alpha"),
        ({"alpha": float("nan")}, ValueError, "alpha"),
        ({"score": "thr"}, ValueError, "score"),
        ({"score": "lac", "lam": 0.1}, TypeError, "lac"),
        ({"score": "raps", "k_reg": -1}, ValueError, "k_reg"),
        ({"y": np.array([0, 1, 4, 2, 1, 0, 3, 2])}, ValueError, r"\[0, 4\)"),
    ],
)
def test_fit_prediction_sets_refuses_bad_arguments(kwargs, error, match):
    x, y = exchangeable_data(8, seed=7)
    args = {"y": y, **kwargs}
    with pytest.raises(error, match=match):
        conformal.fit_prediction_sets(classifier(), x, **args)


def test_nan_probabilities_and_empty_calibration_inputs_raise_naming_the_argument():
    probs = np.full((5, K), 1 / K)
    probs[2, 1] = np.nan
    for call in (lambda: conformal.class_scores(probs, "aps"), lambda: conformal.prediction_sets(probs, 0.5)):
        with pytest.raises(ValueError, match=r"`probs` must be finite. Received 1 NaN .*rows \[2\]"):
            call()
    x, y = exchangeable_data(8, seed=13)
    with pytest.raises(ValueError, match="`x` has no rows"):
        conformal.fit_prediction_sets(classifier(), x[:0], y[:0])
    with pytest.raises(ValueError, match="`batch_size` must be an int >= 1. Received: batch_size=0"):
        conformal.fit_prediction_sets(classifier(), x, y, batch_size=0)


@pytest.mark.parametrize("value", [-0.1, float("nan"), "1"])
def test_negative_or_nan_thresholds_and_scales_are_refused(value):
    with pytest.raises(ValueError, match="threshold"):
        conformal.with_prediction_sets(classifier(), value)
    with pytest.raises(ValueError, match="`quantile`"):
        conformal.with_prediction_intervals(gaussian_model(), value)


def test_sets_and_intervals_refuse_the_other_kind_of_head():
    x, y = exchangeable_data(20, seed=8)
    with pytest.raises(ValueError, match="`model` must be a classifier.*fit_prediction_intervals"):
        conformal.fit_prediction_sets(gaussian_model(), x[:, :2], y.astype("float32"))
    with pytest.raises(ValueError, match="`model` must have a Gaussian.*fit_prediction_sets"):
        conformal.fit_prediction_intervals(classifier(), x, y.astype("float32")[:, None])


def test_previous_names_are_deprecated_aliases_giving_the_same_numbers():
    x, y = exchangeable_data(60, seed=9)
    model = classifier()
    with pytest.warns(DeprecationWarning, match="fit_set_threshold is deprecated.*fit_prediction_sets"):
        old = conformal.fit_set_threshold(model, x, y, alpha=0.2, score="aps")
    assert old == conformal.fit_prediction_sets(model, x, y, alpha=0.2, score="aps")
    g = gaussian_model()
    x_g = np.random.default_rng(3).normal(size=(40, g.input.shape[-1])).astype("float32")
    y_g = np.random.default_rng(4).normal(size=(40, g.output.shape[-1] // 2)).astype("float32")
    with pytest.warns(DeprecationWarning, match="fit_interval_scale is deprecated.*fit_prediction_intervals"):
        old = conformal.fit_interval_scale(g, x_g, y_g, alpha=0.2)
    q = conformal.fit_prediction_intervals(g, x_g, y_g, alpha=0.2)
    assert old == q
    with pytest.warns(DeprecationWarning, match="scale="):
        by_old_keyword = conformal.with_prediction_intervals(g, scale=q)
    np.testing.assert_allclose(
        by_old_keyword.predict(x_g, verbose=0), conformal.with_prediction_intervals(g, q).predict(x_g, verbose=0)
    )


# -- defects of the previous release, each failing there


def fixed_gaussian_model(units):
    """A plain regressor predicting means 0 and stds 1 for each of `units` units, whatever `x` (N, 1)."""
    inputs = keras.Input((1,))
    dense = keras.layers.Dense(2 * units, kernel_initializer="zeros")
    model = keras.Model(inputs, dense(inputs))
    dense.bias.assign(np.repeat([0.0, 1.0], units).astype("float32"))  # [means, stds]
    return model


def test_interval_quantiles_are_per_unit_so_each_unit_has_its_coverage(tmp_path):
    # The previous release pooled both units' scores into one quantile: on unit 1, three times noisier
    # than its predicted std, its intervals covered 0.80 and unit 0's 0.9999 (alpha = 0.1).
    model = fixed_gaussian_model(2)
    rng = np.random.default_rng(0)
    noise = np.array([1.0, 3.0])  # unit 1 is three times noisier than the predicted std 1
    x_cal, y_cal = np.zeros((1000, 1), "float32"), rng.normal(size=(1000, 2)) * noise
    x_test, y_test = np.zeros((4000, 1), "float32"), rng.normal(size=(4000, 2)) * noise
    q = conformal.fit_prediction_intervals(model, x_cal, y_cal, alpha=0.1)
    assert isinstance(q, np.ndarray) and q.shape == (2,)
    expected = [conformal.conformal_quantile(np.abs(y_cal[:, u]), 0.1) for u in range(2)]  # scores |y - 0| / 1
    np.testing.assert_allclose(q, expected, rtol=1e-6)
    wrapped = conformal.with_prediction_intervals(model, q)
    got = wrapped.predict(x_test, batch_size=1000, verbose=0)
    np.testing.assert_allclose(got, np.broadcast_to(np.concatenate([-q, q]), (4000, 4)), rtol=1e-6)
    coverage = ((y_test >= got[:, :2]) & (y_test <= got[:, 2:])).mean(0)
    np.testing.assert_array_less(np.abs(coverage - 0.9), 0.035)  # each unit: 1 - alpha, up to sampling error
    wrapped.save(tmp_path / "per_unit.keras")
    restored = keras.models.load_model(tmp_path / "per_unit.keras")
    assert restored.get_layer("prediction_intervals").quantile == tuple(q)
    np.testing.assert_allclose(restored.predict(x_test[:5], verbose=0), got[:5], rtol=1e-6)
    with pytest.raises(ValueError, match=r"`quantile` must be one float, or one per unit .*2 units.*3 values"):
        conformal.with_prediction_intervals(model, [1.0, 2.0, 3.0])


def test_too_few_calibration_rows_are_counted_in_rows_not_rows_times_units():
    # The previous release counted 5 rows x 2 units = 10 scores, enough for alpha = 0.1: a finite q.
    model = fixed_gaussian_model(2)
    y = np.random.default_rng(1).normal(size=(5, 2))
    with pytest.warns(UserWarning, match="5 calibration rows are too few"):
        q = conformal.fit_prediction_intervals(model, np.zeros((5, 1), "float32"), y, alpha=0.1)
    np.testing.assert_array_equal(q, [math.inf, math.inf])


def probabilities_model(k=3):
    """A plain model whose outputs are its inputs: the class probabilities given as `x`."""
    inputs = keras.Input((k,))
    return keras.Model(inputs, keras.layers.Identity()(inputs))


@pytest.mark.parametrize("score", ["lac", "aps", "raps"])
def test_sets_always_hold_the_top_class_unless_asked_otherwise(score):
    # The previous release returned {c : score_c <= q}: APS/RAPS sets were empty when max p > q
    # (1.4 % / 0.5 % of the rows of a trained model), which MAPIE and torch-uncertainty never return.
    probs = np.array([[0.8, 0.15, 0.05], [0.5, 0.3, 0.2], [0.4, 0.4, 0.2], [0.34, 0.33, 0.33]], "float32")
    q = {"lac": 0.55, "aps": 0.45, "raps": 0.45}[score]
    plain = conformal.class_scores(probs, score) <= q
    # empty plain sets: LAC when max p < 1 - q, APS/RAPS when max p > q
    np.testing.assert_array_equal(plain.any(-1), [1, 1, 0, 0] if score == "lac" else [0, 0, 0, 1])
    expected = plain | top_classes(probs)
    assert expected.any(-1).all()
    np.testing.assert_array_equal(expected[2], [1, 1, 0])  # ties at the top: both
    np.testing.assert_array_equal(conformal.prediction_sets(probs, q, score), expected)
    np.testing.assert_array_equal(conformal.prediction_sets(probs, q, score, include_top_class=False), plain)
    model = probabilities_model()
    sets = conformal.with_prediction_sets(model, q, score, from_logits=False)  # an Identity output says nothing
    np.testing.assert_array_equal(sets.predict(probs, verbose=0), expected)
    opt_out = conformal.with_prediction_sets(model, q, score, from_logits=False, include_top_class=False)
    np.testing.assert_array_equal(opt_out.predict(probs, verbose=0), plain)
    assert not opt_out.get_layer("prediction_sets").get_config()["include_top_class"]
    with pytest.raises(TypeError, match=r"`include_top_class` must be True or False. Received: include_top_class='no'"):
        conformal.with_prediction_sets(model, q, score, from_logits=False, include_top_class="no")


def test_fitted_aps_sets_are_never_empty_and_keep_the_coverage():
    model = classifier(logits_head=True)
    x_cal, y_cal = exchangeable_data(500, seed=10)
    x_test, y_test = exchangeable_data(2000, seed=11)
    q = conformal.fit_prediction_sets(
        model, x_cal, y_cal, alpha=0.3, score="aps", batch_size=1000
    )  # q < max p on many rows
    plain = conformal.with_prediction_sets(model, q, "aps", include_top_class=False).predict(
        x_test, batch_size=1000, verbose=0
    )
    sets = conformal.with_prediction_sets(model, q, "aps").predict(x_test, batch_size=1000, verbose=0)
    assert (plain.sum(-1) == 0).mean() > 0.01  # the plain definition leaves rows without an answer
    assert sets.sum(-1).min() == 1.0
    assert sets[np.arange(2000), y_test].mean() >= 0.7 - 0.035


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
@pytest.mark.parametrize("when", ["built_and_wrapped", "wrapped"])
def test_sets_and_intervals_compute_in_float32_under_a_mixed_policy(policy, when):
    # The previous release computed the wrappers' layers in the policy's dtype: probabilities off by
    # ~1e-3 (bfloat16), so some sets disagreed with the float32 threshold.
    if when == "built_and_wrapped":
        keras.config.set_dtype_policy(policy)
    model, gaussian = classifier(logits_head=True), gaussian_model(units=2)
    x, y = exchangeable_data(400, seed=12)
    probs = numpy_probs(model, x)  # the numpy path, before a policy set only to wrap
    x_g = x[:, :2]
    members = gaussian.predict_members(x_g, verbose=0).astype("float64")
    keras.config.set_dtype_policy(policy)
    scores = brute_force_scores(probs, "aps")
    q = float(np.median(scores[np.arange(400), y]))
    wrapped = conformal.with_prediction_sets(model, q, "aps")
    sets = wrapped.predict(x, verbose=0).astype(bool)
    answered = (scores <= q).any(-1)  # rows whose plain set holds the top class already
    near = np.abs(scores - q) < 1e-5
    np.testing.assert_array_equal(sets[answered][~near[answered]], (scores <= q)[answered][~near[answered]])
    assert wrapped.get_layer("prediction_sets").dtype_policy.name == "float32"
    mu, sigma = members[..., :2], members[..., 2:]
    mean, std = mu.mean(1), np.sqrt((sigma**2).mean(1) + mu.var(1))
    got = conformal.with_prediction_intervals(gaussian, [1.5, 2.0]).predict(x_g, verbose=0)
    np.testing.assert_allclose(got, np.concatenate([mean - [1.5, 2.0] * std, mean + [1.5, 2.0] * std], -1), atol=2e-6)


def two_output_model(mimo):
    inputs = keras.Input((4,))
    if mimo:
        h = keras_mimo.MIMOInput(2)(inputs)
        heads = [keras_mimo.MIMOHead(3, 2, activation="softmax", name="a")(h), keras_mimo.MIMOHead(2, 2, name="b")(h)]
        return keras_mimo.MIMOModel(inputs, heads)
    return keras.Model(inputs, [keras.layers.Dense(3, activation="softmax")(inputs), keras.layers.Dense(2)(inputs)])


BAD_MODELS = {
    "plain_two_outputs": lambda: two_output_model(mimo=False),
    "mimo_two_outputs": lambda: two_output_model(mimo=True),
    "list_with_a_non_model": lambda: [classifier(), "model"],
    "empty_list": lambda: [],
}


@pytest.mark.parametrize("bad", [*BAD_MODELS, "other_kind"])
@pytest.mark.parametrize("noun", ["prediction_sets", "prediction_intervals"])
def test_each_fit_with_pair_refuses_the_same_models_with_the_same_message(noun, bad):
    # The fit and with functions of a pair check `model` with one function, at the call.
    fit, wrap = getattr(conformal, f"fit_{noun}"), getattr(conformal, f"with_{noun}")
    if bad == "other_kind":
        model = gaussian_model() if noun == "prediction_sets" else classifier()
    else:
        model = BAD_MODELS[bad]()
    errors = []
    for call in (lambda: fit(model, np.zeros((8, 4), "float32"), np.zeros(8, "int64")), lambda: wrap(model, 1.0)):
        with pytest.raises((TypeError, ValueError)) as info:
            call()
        errors.append(info.value)
    fit_error, with_error = errors
    assert type(fit_error) is type(with_error)
    assert str(fit_error).replace("fit_", "with_") == str(with_error)
    assert "`model`" in str(with_error) and "Received" in str(with_error)  # Keras style: the argument, what it got
    if bad.endswith("two_outputs"):
        assert f"model '{model.name}' with 2 outputs" in str(with_error)
        assert "ensemble_method" not in str(with_error)
