import keras
import numpy as np
import pytest

import keras_mimo
from keras_mimo import calibration


def overconfident_classifier(logits_head=False, scale=8.0):
    """A MIMO classifier whose logits are scaled up: right often, too sure."""
    inputs = keras.Input((4,))
    h = keras_mimo.MIMOInput(2)(inputs)
    activation = None if logits_head else "softmax"
    head = keras_mimo.MIMOHead(4, 2, activation=activation)
    model = keras_mimo.MIMOModel(inputs, head(h))
    kernel = np.zeros((8, 8), "float32")
    for m in range(2):
        kernel[4 * m : 4 * m + 4, 4 * m : 4 * m + 4] = scale * np.eye(4)
    head.dense.kernel.assign(kernel)
    return model


def noisy_data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = np.eye(4, dtype="float32")[y] + rng.normal(0, 0.6, (n, 4)).astype("float32")
    return x, y


@pytest.mark.parametrize("logits_head", [False, True])
def test_fitted_temperature_minimizes_the_held_out_nll_and_softens_overconfidence(logits_head):
    model = overconfident_classifier(logits_head)
    x, y = noisy_data()
    t = calibration.fit_temperature(model, x, y)
    assert t > 1.0
    log_probs = calibration.ensemble_log_probabilities(model, x, 128, None)
    nll = lambda temperature: calibration.temperature_nll(log_probs, y, temperature)
    assert nll(t) <= min(nll(t * 1.02), nll(t / 1.02)) + 1e-9
    assert nll(t) < nll(1.0)


def test_ensemble_log_probabilities_of_a_deep_ensemble_and_their_scaling():
    members = [overconfident_classifier(logits_head=True, scale=s) for s in (2.0, 6.0)]
    x, y = noisy_data(60)
    got = calibration.ensemble_log_probabilities(members, x)
    probs = [keras.ops.convert_to_numpy(keras.ops.softmax(m.predict(x, verbose=0).astype("float64"))) for m in members]
    np.testing.assert_allclose(got, np.log((probs[0] + probs[1]) / 2), rtol=1e-5, atol=1e-6)
    scaled = calibration.scaled_log_probabilities(got, 3.0)
    expected = np.exp(got / 3.0) / np.exp(got / 3.0).sum(-1, keepdims=True)
    np.testing.assert_allclose(np.exp(scaled), expected, rtol=1e-6)
    assert calibration.temperature_nll(got, y, 3.0) == pytest.approx(-np.mean(scaled[np.arange(60), y]))
    t = calibration.fit_temperature(members, x, y)
    assert calibration.temperature_nll(got, y, t) <= calibration.temperature_nll(got, y, 1.0)
    with pytest.raises(ValueError, match="temperature"):
        calibration.scaled_log_probabilities(got, 0.0)


@pytest.mark.parametrize("logits_head", [False, True])
def test_with_temperature_predicts_exactly_the_scaled_ensemble_and_saves(logits_head, tmp_path):
    model = overconfident_classifier(logits_head)
    x, _ = noisy_data(50)
    scaled = calibration.with_temperature(model, 2.5)
    members = model.predict_members(x, verbose=0).astype("float64")
    probs = np.exp(members - members.max(-1, keepdims=True)) if logits_head else members
    if logits_head:
        probs = probs / probs.sum(-1, keepdims=True)
    z = np.log(probs.mean(1)) / 2.5
    expected = np.exp(z - z.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    out = scaled.predict(x, verbose=0)
    got = (
        np.exp(out - out.max(-1, keepdims=True)) / np.exp(out - out.max(-1, keepdims=True)).sum(-1, keepdims=True)
        if logits_head
        else out
    )
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    if not logits_head:
        np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5)  # probabilities in, probabilities out
    scaled.save(tmp_path / "t.keras")
    loaded = keras.models.load_model(tmp_path / "t.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), out, rtol=1e-6)


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_temperatures_are_refused(temperature):
    with pytest.raises(ValueError, match="temperature"):
        calibration.with_temperature(overconfident_classifier(), temperature)


def gaussian_model():
    inputs = keras.Input((1,))
    h = keras.layers.Dense(8, activation="relu")(keras_mimo.MIMOInput(2)(inputs))
    return keras_mimo.MIMOModel(inputs, keras_mimo.MIMOHead(1, 2, ensemble_method="gaussian")(h))


def test_fit_temperature_on_a_regression_head_points_to_the_std_scale():
    with pytest.raises(ValueError, match="fit_std_scale"):
        calibration.fit_temperature(gaussian_model(), np.zeros((4, 1)), np.zeros(4))


def test_std_scale_is_the_nll_minimizer_and_wraps_the_model(tmp_path):
    model = gaussian_model()
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 1)).astype("float32"), 3.0 * rng.normal(size=(200, 1))
    s = calibration.fit_std_scale(model, x, y)
    pred = model.predict(x, verbose=0).astype("float64")
    mean, std = pred[:, :1], pred[:, 1:]
    nll = lambda scale: np.mean(
        np.log(scale * std) + 0.5 * np.log(2 * np.pi) + (y - mean) ** 2 / (2 * (scale * std) ** 2)
    )
    assert nll(s) <= min(nll(s * 1.05), nll(s / 1.05))
    wrapped = calibration.with_std_scale(model, s)
    scaled = wrapped.predict(x, verbose=0)
    np.testing.assert_allclose(scaled, np.concatenate([mean, s * std], -1), rtol=1e-5)
    assert keras_mimo.evaluate_regression(wrapped, x, y, verbose=0)["nll"] == pytest.approx(nll(s), rel=1e-4)
    wrapped.save(tmp_path / "s.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "s.keras").predict(x, verbose=0), scaled, rtol=1e-6)


def test_with_temperature_wraps_a_deep_ensemble_and_saves(tmp_path):
    members = [overconfident_classifier(logits_head=True, scale=s) for s in (2.0, 6.0)]
    x, y = noisy_data(80)
    t = calibration.fit_temperature(members, x, y)
    wrapped = calibration.with_temperature(members, t)
    expected = np.exp(calibration.scaled_log_probabilities(calibration.ensemble_log_probabilities(members, x), t))
    np.testing.assert_allclose(wrapped.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-6)
    wrapped.save(tmp_path / "ensemble.keras")
    restored = keras.models.load_model(tmp_path / "ensemble.keras")
    np.testing.assert_allclose(restored.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-6)


def test_a_zero_d_array_temperature_is_accepted():
    model = overconfident_classifier()
    x, _ = noisy_data(10)
    np.testing.assert_allclose(
        calibration.with_temperature(model, np.array(1.5)).predict(x, verbose=0),
        calibration.with_temperature(model, 1.5).predict(x, verbose=0),
    )


def test_fit_temperature_refuses_fractional_labels_and_reversed_bounds_and_warns_at_a_bound():
    model = overconfident_classifier()
    x, y = noisy_data(50)
    with pytest.raises(ValueError, match="integer class indices"):
        calibration.fit_temperature(model, x, y + 0.5)
    with pytest.raises(ValueError, match="low < high"):
        calibration.fit_temperature(model, x, y, bounds=(20.0, 0.05))
    with pytest.warns(UserWarning, match="at a bound"):
        calibration.fit_temperature(model, x, y, bounds=(0.05, 1.0))  # over-confident: T > 1 wanted


def plain_logits_model():
    inputs = keras.Input((4,))
    dense = keras.layers.Dense(4)
    model = keras.Model(inputs, dense(inputs))
    dense.kernel.assign(5.0 * np.eye(4, dtype="float32"))
    return model


def test_logits_read_as_probabilities_raise_and_say_from_logits():
    model = plain_logits_model()
    x, y = noisy_data(50)
    for call in (
        lambda: calibration.fit_temperature(model, x, y),
        lambda: keras_mimo.evaluate_ensemble(model, x, y, verbose=0),
        lambda: keras_mimo.conformal.fit_prediction_sets(model, x, y),
    ):
        with pytest.raises(ValueError, match="from_logits=True"):
            call()
    t = calibration.fit_temperature(model, x, y, from_logits=True)
    scaled = calibration.with_temperature(model, t, from_logits=True)
    # the wrapper keeps the logits form, and readers take it from the wrapper itself
    assert keras_mimo.evaluate_ensemble(scaled, x, y, verbose=0)["nll"] == pytest.approx(
        calibration.temperature_nll(calibration.ensemble_log_probabilities(model, x, from_logits=True), y, t), rel=1e-4
    )


# -- defects of the previous release, each failing there


def plain_gaussian_model(units=1):
    """A plain Keras regressor predicting `(N, 2 * units)` = [means, positive stds]."""
    inputs = keras.Input((2,))
    raw = keras.layers.Dense(2 * units)(inputs)
    outputs = keras.layers.Lambda(
        lambda t: keras.ops.concatenate([t[:, :units], keras.ops.softplus(t[:, units:]) + 0.1], axis=-1)
    )(raw)
    return keras.Model(inputs, outputs)


def test_prediction_intervals_of_a_plain_gaussian_model_are_fitted_not_crashed():
    # The previous release crashed: output_form() missing 1 required positional argument: 'units'
    model = plain_gaussian_model()
    rng = np.random.default_rng(5)
    x = rng.normal(size=(50, 2)).astype("float32")
    y = rng.normal(size=(50, 1)).astype("float32")
    q = keras_mimo.conformal.fit_prediction_intervals(model, x, y, alpha=0.2)
    pred = model.predict(x, verbose=0).astype("float64")
    scores = np.sort(np.abs(y[:, 0] - pred[:, 0]) / pred[:, 1])
    assert q == pytest.approx(scores[int(np.ceil(51 * 0.8)) - 1], rel=1e-5)


def test_fit_std_scale_refuses_targets_of_another_length():
    # The previous release broadcast one target row against 20 predictions and returned a number.
    model = gaussian_model()
    x = np.random.default_rng(0).normal(size=(20, 1)).astype("float32")
    y = np.zeros((20, 1), "float32")
    with pytest.raises(ValueError, match=r"`y` must have one row per example: 20 predictions. Received: 1 rows"):
        calibration.fit_std_scale(model, x, y[:1])


def test_fit_std_scale_on_a_classifier_names_itself_and_the_alternative():
    # The previous release said "evaluate_regression needs a MIMOHead with ensemble_method='gaussian'".
    x, _ = noisy_data(20)
    with pytest.raises(ValueError, match=r"^`model` must have a Gaussian .*fit_temperature") as info:
        calibration.fit_std_scale(overconfident_classifier(), x, np.zeros((20, 1)))
    assert "evaluate_regression" not in str(info.value)


def test_fit_std_scale_y_scale_is_deprecated_and_ignored():
    model = gaussian_model()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 1)).astype("float32")
    y = rng.normal(size=(30, 1)).astype("float32")
    expected = calibration.fit_std_scale(model, x, y)
    with pytest.warns(DeprecationWarning, match="y_scale"):
        assert calibration.fit_std_scale(model, x, y, y_scale=3.0) == expected
    with pytest.warns(DeprecationWarning, match="y_scale"):  # positional, as the previous signature took it
        assert calibration.fit_std_scale(model, x, y, 3.0) == expected


def logits_identity_model(k=4):
    """A plain model whose outputs are its inputs: the logits given as `x` (from_logits=True)."""
    inputs = keras.Input((k,))
    return keras.Model(inputs, keras.layers.Identity()(inputs))


def test_fit_temperature_refuses_nan_or_inf_predictions_and_labels_naming_the_argument():
    # The previous release returned T = 20 (the upper bound) for NaN logits, with a warning to widen `bounds`.
    model = logits_identity_model()
    rng = np.random.default_rng(0)
    x, y = rng.normal(0, 2, (40, 4)).astype("float32"), rng.integers(0, 4, 40)
    assert calibration.fit_temperature(model, x, y, from_logits=True) < 20.0
    for bad in (np.nan, np.inf):
        x_bad = x.copy()
        x_bad[[3, 7]] = bad
        with pytest.raises(ValueError, match=r"`x` must be finite.* in 2 rows \(e.g. rows \[3, 7\]\)"):
            calibration.fit_temperature(model, x_bad, y, from_logits=True)
    for y_bad, match in [
        (np.where(np.arange(40) == 5, np.nan, y), r"`y` .* Received 1 NaN and 0 infinite values"),
        (np.where(np.arange(40) == 5, np.inf, y), r"`y` .* Received 0 NaN and 1 infinite values"),
        (np.where(np.arange(40)[:, None] == 5, np.nan, np.eye(4)[y]), r"`y` .* Received 4 NaN"),  # one-hot
        (np.where(np.arange(40) == 5, 4, y), r"`y` must hold class indices in \[0, 4\). Received 1 labels .*\[4\]"),
        (np.where(np.arange(40) == 5, -1, y), r"`y` must hold class indices in \[0, 4\).*\[-1\]"),
    ]:
        with pytest.raises(ValueError, match=match):
            calibration.fit_temperature(model, x, y_bad, from_logits=True)
    overflow = keras.Model(model.inputs, keras.layers.Lambda(lambda t: t * 1e38)(model.outputs[0]))  # inf logits
    with pytest.raises(ValueError, match=r"outputs of model .* on `x` hold .* check the model for overflow"):
        calibration.fit_temperature(overflow, x, y, from_logits=True)
    log_probs = calibration.ensemble_log_probabilities(model, x, from_logits=True)
    log_probs[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"`log_probs` must be finite.*rows \[2\]"):
        calibration.temperature_from_log_probabilities(log_probs, y)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_wrappers_compute_in_float32_under_a_mixed_policy(policy):
    # The previous release scaled in the policy's dtype: probabilities off `predict`'s by ~1e-3 (bfloat16).
    keras.config.set_dtype_policy(policy)
    model, gaussian = overconfident_classifier(scale=2.0), gaussian_model()
    x, _ = noisy_data(64)
    z = np.log(model.predict(x, verbose=0).astype("float64")) / 1.7
    expected = np.exp(z - z.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    scaled = calibration.with_temperature(model, 1.7)
    np.testing.assert_allclose(scaled.predict(x, verbose=0), expected, atol=2e-6)
    x_g = x[:, :1]
    pred = gaussian.predict(x_g, verbose=0)
    wrapped = calibration.with_std_scale(gaussian, 1.3)
    np.testing.assert_allclose(wrapped.predict(x_g, verbose=0), pred * [1.0, 1.3], rtol=1e-6)
    for layer in (scaled.get_layer("temperature_scaling"), wrapped.get_layer("std_scaling")):
        assert layer.dtype_policy.name == "float32"


def softmax_classifier():
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(4, activation="softmax", name="probs")(inputs))


def test_with_std_scale_refuses_a_classifier_and_wraps_a_deep_ensemble_as_fit_std_scale():
    # The previous release wrapped a softmax classifier silently and raised
    # AttributeError: 'list' object has no attribute 'input' for a deep ensemble.
    x = np.random.default_rng(2).normal(size=(30, 4)).astype("float32")
    classifier = softmax_classifier()
    messages = []
    for call in (
        lambda: calibration.fit_std_scale(classifier, x, np.zeros((30, 2))),
        lambda: calibration.with_std_scale(classifier, 2.0),
    ):
        with pytest.raises(ValueError, match=r"must have a Gaussian .*'probs' has activation='softmax'") as info:
            call()
        messages.append(str(info.value))
    assert messages[0].replace("fit_", "with_") == messages[1]
    members = [gaussian_model(), gaussian_model()]
    x_g, y_g = x[:, :1], np.random.default_rng(3).normal(size=(30, 1))
    s = calibration.fit_std_scale(members, x_g, y_g)
    got = calibration.with_std_scale(members, s).predict(x_g, verbose=0)
    both = np.concatenate([m.predict_members(x_g, verbose=0).astype("float64") for m in members], 1)
    mu, sigma = both[..., :1], both[..., 1:]
    mean, std = mu.mean(1), np.sqrt((sigma**2).mean(1) + mu.var(1))
    np.testing.assert_allclose(got, np.concatenate([mean, s * std], -1), rtol=1e-5, atol=1e-6)
    assert s == pytest.approx(np.sqrt(np.mean(((y_g - mean) / std) ** 2)), rel=1e-5)


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
    "list_with_a_non_model": lambda: [overconfident_classifier(), "model"],
    "a_dict": lambda: {"model": overconfident_classifier()},
}


@pytest.mark.parametrize("bad", [*BAD_MODELS, "other_kind"])
@pytest.mark.parametrize("noun", ["temperature", "std_scale"])
def test_each_fit_with_pair_refuses_the_same_models_with_the_same_message(noun, bad):
    # The previous release built with_temperature wrappers of two-output models that failed in `predict`
    # (inside TemperatureScaling.call), or named `ensemble_method` with a dict, and checked nothing in
    # with_std_scale; both functions of a pair now check `model` with one function, at the call.
    fit, wrap = getattr(calibration, f"fit_{noun}"), getattr(calibration, f"with_{noun}")
    if bad == "other_kind":
        model = gaussian_model() if noun == "temperature" else overconfident_classifier()
    else:
        model = BAD_MODELS[bad]()
    errors = []
    for call in (lambda: fit(model, np.zeros((8, 4), "float32"), np.zeros(8, "int64")), lambda: wrap(model, 1.5)):
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


def test_with_temperature_reads_a_with_temperature_model_as_fit_temperature_does():
    # The previous release read a plain model as probabilities unless from_logits=True, also a model from
    # with_temperature around a logits head, which fit_temperature reads as logits.
    model = overconfident_classifier(logits_head=True)
    x, _ = noisy_data(40)
    twice = calibration.with_temperature(calibration.with_temperature(model, 2.0), 1.5)
    np.testing.assert_allclose(
        twice.predict(x, verbose=0), calibration.with_temperature(model, 3.0).predict(x, verbose=0), rtol=1e-5
    )


def negative_std_model():
    """A plain regressor predicting [mean 0, std -1]: not a Gaussian."""
    inputs = keras.Input((1,))
    dense = keras.layers.Dense(2, kernel_initializer="zeros")
    model = keras.Model(inputs, dense(inputs))
    dense.bias.assign(np.array([0.0, -1.0], "float32"))
    return model


def test_bad_arguments_raise_naming_the_argument_and_the_value():
    x, y = noisy_data(20)
    log_probs = np.log(np.full((20, 4), 0.25))
    nan_log_probs = log_probs.copy()
    nan_log_probs[4, 0] = np.nan
    x_g, y_g = np.zeros((20, 1), "float32"), np.zeros((20, 1))
    for call, error, match in [
        (lambda: calibration.temperature_nll(nan_log_probs, y, 2.0), ValueError, r"`log_probs` must be finite.*\[4\]"),
        (lambda: calibration.temperature_nll(log_probs, y[:-1], 2.0), ValueError, r"19 rows in `labels`"),
        (lambda: calibration.scaled_log_probabilities(nan_log_probs, 2.0), ValueError, r"`log_probs` must be finite"),
        (
            lambda: calibration.fit_temperature(overconfident_classifier(), x, y, batch_size=0),
            ValueError,
            "batch_size=0",
        ),
        (lambda: calibration.fit_temperature(overconfident_classifier(), x, y, batch_size=2.5), TypeError, "=2.5"),
        (lambda: calibration.fit_temperature(overconfident_classifier(), x[:0], y[:0]), ValueError, "`x` has no rows"),
        (
            lambda: calibration.fit_std_scale(negative_std_model(), x_g, y_g),
            ValueError,
            r"`model` must predict positive standard deviations.*20 standard",
        ),
        (lambda: calibration.StdScaling(2.0)(np.ones((2, 3), "float32")), ValueError, r"`inputs` .* shape \(2, 3\)"),
    ]:
        with pytest.raises(error, match=match):
            call()
    model = gaussian_model()
    assert calibration.fit_std_scale(model, x[:, :1], y_g, batch_size=np.int64(4)) == pytest.approx(
        calibration.fit_std_scale(model, x[:, :1], y_g, batch_size=4)
    )
