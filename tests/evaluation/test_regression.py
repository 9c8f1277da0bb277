import keras
import numpy as np
import pytest
from scipy import stats

import keras_mimo


def gaussian_mimo(ensemble_size=2, hidden=32, seed=0):
    inputs = keras.Input((1,))
    h = keras_mimo.MIMOInput(ensemble_size)(inputs)
    h = keras.layers.Dense(hidden, activation="relu")(h)
    h = keras.layers.Dense(hidden, activation="relu")(h)
    out = keras_mimo.MIMOHead(1, ensemble_size, ensemble_method="gaussian")(h)
    return keras_mimo.MIMOModel(inputs, out, seed=seed)


def test_scores_match_numpy_from_the_member_predictions():
    model = gaussian_mimo(ensemble_size=3)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 1)).astype("float32"), rng.normal(size=(40, 1))
    r = keras_mimo.evaluate_regression(model, x, y, y_scale=2.0, verbose=0)
    members = model.predict_members(x, verbose=0).astype("float64")
    mu, sigma = members[..., :1], members[..., 1:]
    mixture = np.log(stats.norm.pdf(y[:, None], mu, sigma).prod(-1).mean(1))
    np.testing.assert_allclose(r["nll"], -mixture.mean() + np.log(2.0), rtol=1e-5)
    mean, var = mu.mean(1), (sigma**2 + mu**2).mean(1) - mu.mean(1) ** 2
    np.testing.assert_allclose(r["rmse"], 2.0 * np.sqrt(np.mean((y - mean) ** 2)), rtol=1e-5)
    np.testing.assert_allclose(
        r["nll_gaussian"], -stats.norm.logpdf(2 * y, 2 * mean, 2 * np.sqrt(var)).mean(), rtol=1e-5
    )
    np.testing.assert_allclose(r["epistemic_variance"] + r["aleatoric_variance"], 4 * var.mean(), rtol=1e-5)
    assert r["ensemble_size"] == 3 and len(r["member_rmse"]) == 3
    assert set(r["coverage"]) == {"50", "90", "95"}


@pytest.mark.large  # trains to a quality (4,000 rows x 25 epochs): end to end, once
def test_a_heteroscedastic_fit_tracks_the_noise_and_covers_90_percent():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (4000, 1)).astype("float32")
    noise = 0.05 + 0.5 * np.abs(x)
    y = (np.sin(3 * x) + noise * rng.normal(size=x.shape)).astype("float32")
    model = gaussian_mimo(ensemble_size=2, hidden=64)
    model.compile(keras.optimizers.Adam(3e-3), keras_mimo.losses.GaussianNLL())
    model.fit(x, y, batch_size=64, epochs=25, verbose=0)
    xt = rng.uniform(-1, 1, (2000, 1)).astype("float32")
    nt = 0.05 + 0.5 * np.abs(xt)
    yt = np.sin(3 * xt) + nt * rng.normal(size=xt.shape)
    std = model.predict(xt, verbose=0)[:, 1:]
    assert np.corrcoef(std[:, 0], nt[:, 0])[0, 1] > 0.9
    r = keras_mimo.evaluate_regression(model, xt, yt, verbose=0)
    assert 0.85 <= r["coverage"]["90"] <= 0.95, r["coverage"]


def test_deep_ensemble_and_single_gaussian_models():
    def plain(seed):
        keras.utils.set_random_seed(seed)
        inputs = keras.Input((1,))
        h = keras.layers.Dense(8, activation="relu")(inputs)
        return keras.Model(
            inputs,
            keras.layers.Concatenate()([keras.layers.Dense(1)(h), keras.layers.Dense(1, activation="softplus")(h)]),
        )

    x, y = np.random.rand(10, 1).astype("float32"), np.random.rand(10, 1)
    assert keras_mimo.evaluate_regression([plain(0), plain(1)], x, y, verbose=0)["ensemble_size"] == 2
    single = keras_mimo.evaluate_regression(plain(0), x, y, verbose=0)
    assert single["epistemic_variance"] == 0.0


@pytest.mark.parametrize("y,match", [(np.full((10, 1), np.nan), "NaN"), (np.zeros((10, 2)), r"\(N, 1\)")])
def test_bad_targets_are_refused(y, match):
    x = np.random.rand(10, 1).astype("float32")
    with pytest.raises(ValueError, match=match):
        keras_mimo.evaluate_regression(gaussian_mimo(), x, y, verbose=0)


def test_a_classifier_is_refused():
    inputs = keras.Input((1,))
    model = keras_mimo.MIMOModel(
        inputs, keras_mimo.MIMOHead(3, 2, activation="softmax")(keras_mimo.MIMOInput(2)(inputs))
    )
    with pytest.raises(ValueError, match="gaussian"):
        keras_mimo.evaluate_regression(model, np.zeros((4, 1)), np.zeros((4, 1)), verbose=0)


@pytest.mark.parametrize(
    "y_scale", [0.0, -1.0, float("nan"), float("inf"), "2", np.ones(3), np.ones((1, 1)), None, True]
)
def test_bad_y_scale_is_refused_by_evaluate_regression(y_scale):
    model = gaussian_mimo()
    x = np.random.default_rng(0).normal(size=(10, 1)).astype("float32")
    y = np.zeros((10, 1), "float32")
    with pytest.raises(ValueError, match="`y_scale`"):
        keras_mimo.evaluate_regression(model, x, y, y_scale=y_scale, verbose=0)


@pytest.mark.parametrize("y_scale", [2, 2.0, np.float32(2.0), np.array(2.0), np.array([2.0])])
def test_y_scale_as_a_number_or_one_value_per_unit(y_scale):
    model = gaussian_mimo()
    x = np.random.default_rng(0).normal(size=(10, 1)).astype("float32")
    y = np.zeros((10, 1), "float32")
    base = keras_mimo.evaluate_regression(model, x, y, verbose=0)
    scaled = keras_mimo.evaluate_regression(model, x, y, y_scale=y_scale, verbose=0)
    assert scaled["rmse"] == pytest.approx(2 * base["rmse"])
