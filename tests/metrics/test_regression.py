import keras
import numpy as np
from scipy import integrate
from scipy import stats

from keras_mimo.metrics import CRPS
from keras_mimo.metrics import GaussianNLL


def gaussians(n=12, units=2, seed=1):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=(n, units))
    mu, sigma = rng.normal(size=(n, units)), rng.random((n, units)) + 0.3
    return y, mu, sigma, np.concatenate([mu, sigma], -1).astype("float32")


def value(metric, y, pred, batch=5):
    for s in range(0, len(y), batch):
        metric.update_state(y[s : s + batch].astype("float32"), pred[s : s + batch])
    return float(keras.ops.convert_to_numpy(metric.result()))


def numeric_crps(y, mu, sigma):
    """CRPS by integrating (F(x) - 1[x >= y])^2 numerically."""
    below, _ = integrate.quad(lambda t: stats.norm.cdf(t, mu, sigma) ** 2, -np.inf, y)
    above, _ = integrate.quad(lambda t: (1 - stats.norm.cdf(t, mu, sigma)) ** 2, y, np.inf)
    return below + above


def test_streaming_gaussian_nll_matches_scipy():
    y, mu, sigma, pred = gaussians()
    np.testing.assert_allclose(
        value(GaussianNLL(), y, pred), -stats.norm.logpdf(y, mu, sigma).sum(-1).mean(), rtol=1e-5
    )


def test_crps_matches_numerical_integration():
    y, mu, sigma, pred = gaussians()
    expected = np.mean(
        [[numeric_crps(y[i, u], mu[i, u], sigma[i, u]) for u in range(2)] for i in range(12)], axis=0
    ).sum()
    np.testing.assert_allclose(value(CRPS(), y, pred), expected, rtol=1e-4)


def test_config_round_trip():
    for cls in (CRPS, GaussianNLL):
        metric = cls(name="m")
        assert cls.from_config(metric.get_config()).name == "m"
