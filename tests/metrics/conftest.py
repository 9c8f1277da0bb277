"""Independent numpy references and adversarial cases for the metric tests."""

import numpy as np
import pytest

from tests.testing import installed_or_skip

EPS = 1e-7


def np_ece(probs, labels, num_bins=15, weights=None):
    weights = np.ones(len(labels)) if weights is None else np.asarray(weights, float)
    conf = probs.max(-1)
    correct = (probs.argmax(-1) == labels).astype(float)
    bins = np.minimum((conf * num_bins).astype(np.float32).astype(int), num_bins - 1)
    ece = 0.0
    for b in range(num_bins):
        m = bins == b
        if weights[m].sum() > 0:
            w = weights[m]
            ece += w.sum() / weights.sum() * abs(np.average(correct[m], weights=w) - np.average(conf[m], weights=w))
    return ece


def np_nll(probs, labels, weights=None):
    nll = -np.log(np.clip(probs[np.arange(len(labels)), labels], EPS, 1.0))
    return np.average(nll, weights=weights)


def np_brier(probs, labels, weights=None):
    onehot = np.eye(probs.shape[-1])[labels]
    return np.average(((probs - onehot) ** 2).sum(-1), weights=weights)


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def adversarial_cases():
    """(name, probs, labels): edge cases a metric must get exactly right."""
    rng = np.random.default_rng(0)
    n, k = 64, 5
    labels = rng.integers(0, k, n)
    onehot = np.eye(k)[labels]
    wrong = np.eye(k)[(labels + 1) % k]
    return [
        ("random", _softmax(rng.normal(0, 2, (n, k))), labels),
        ("all_confident_right", 0.999 * onehot + 0.001 / k, labels),
        ("all_confident_wrong", 0.999 * wrong + 0.001 / k, labels),
        ("one_class", _softmax(rng.normal(0, 1, (n, k))), np.zeros(n, int)),
        ("ties", np.full((n, k), 1.0 / k), labels),
        ("single_example", np.array([[0.2, 0.5, 0.3]]), np.array([1])),
        ("bin_edges", np.array([[0.6, 0.4], [0.2, 0.8], [1.0, 0.0], [0.5, 0.5]]), np.array([0, 0, 0, 1])),
    ]


@pytest.fixture
def cases():
    return [(name, p.astype("float32"), l.astype("int32")) for name, p, l in adversarial_cases()]


@pytest.fixture
def np_refs():
    import types

    return types.SimpleNamespace(ece=np_ece, nll=np_nll, brier=np_brier, softmax=_softmax)


@pytest.fixture
def tfp():
    """tensorflow-probability, the independent reference (TF substrate; it needs tf-keras).

    Skipped where it is missing, but CI (`KERAS_MIMO_EXPECT_INSTALLED`) installs it: there a
    missing or broken TFP fails the oracle tests instead of skipping them.
    """
    installed_or_skip("tensorflow", "TFP's references run on TensorFlow")
    return installed_or_skip("tensorflow_probability", "it needs TF and tf-keras, see docs/backends.md")
