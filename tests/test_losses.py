import keras
import numpy as np
import pytest
from scipy import stats

import keras_mimo


def random_gaussians(n=20, units=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=(n, units))
    mu, sigma = rng.normal(size=(n, units)), rng.random((n, units)) + 0.2
    return y.astype("float32"), np.concatenate([mu, sigma], -1).astype("float32"), mu, sigma


def test_gaussian_nll_is_the_mean_row_sum_of_negative_log_densities():
    y, pred, mu, sigma = random_gaussians()
    expected = -stats.norm.logpdf(y, mu, sigma).sum(-1).mean()
    got = float(keras.ops.convert_to_numpy(keras_mimo.losses.GaussianNLL()(y, pred)))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_a_target_that_does_not_match_the_units_is_refused():
    _, pred, _, _ = random_gaussians(units=2)
    with pytest.raises(ValueError, match=r"last\s+dimension 2"):
        keras_mimo.losses.GaussianNLL()(np.zeros((20, 3), "float32"), pred)


def test_the_loss_saves_with_a_compiled_model(tmp_path):
    inputs = keras.Input((3,))
    h = keras_mimo.MIMOInput(2)(inputs)
    model = keras_mimo.MIMOModel(inputs, keras_mimo.MIMOHead(1, 2, ensemble_method="gaussian")(h))
    model.compile("adam", keras_mimo.losses.GaussianNLL(), metrics=[keras_mimo.metrics.CRPS()])
    x, y = np.random.rand(16, 3).astype("float32"), np.random.rand(16, 1).astype("float32")
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "g.keras")
    loaded = keras.models.load_model(tmp_path / "g.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert loaded.predict(x, verbose=0).shape == (16, 2)
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-5)
