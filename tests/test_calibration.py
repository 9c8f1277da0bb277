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
    nll = lambda scale: keras_mimo.evaluate_regression(calibration.with_std_scale(model, scale), x, y, verbose=0)["nll"]
    assert nll(s) <= min(nll(s * 1.05), nll(s / 1.05))
    pred, scaled = model.predict(x, verbose=0), calibration.with_std_scale(model, s).predict(x, verbose=0)
    np.testing.assert_allclose(scaled, np.concatenate([pred[:, :1], s * pred[:, 1:]], -1), rtol=1e-5)
    wrapped = calibration.with_std_scale(model, s)
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
    with pytest.raises(ValueError, match=r"fit_std_scale: got 20 predictions but 1 rows in `y`"):
        calibration.fit_std_scale(model, x, y[:1])


def test_fit_std_scale_on_a_classifier_names_itself_and_the_alternative():
    # The previous release said "evaluate_regression needs a MIMOHead with ensemble_method='gaussian'".
    x, _ = noisy_data(20)
    with pytest.raises(ValueError, match=r"^fit_std_scale needs a Gaussian .*fit_temperature") as info:
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
