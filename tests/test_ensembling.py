import keras
import numpy as np
import pytest

from keras_mimo import combine_members


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.fixture
def members():
    return np.random.default_rng(0).normal(0, 3, size=(6, 4, 5)).astype("float32")


def test_mean_is_the_arithmetic_mean(members):
    out = keras.ops.convert_to_numpy(combine_members(members, "mean", axis=1))
    np.testing.assert_allclose(out, members.mean(1), rtol=1e-6)


def test_softmax_logits_give_the_mean_member_probability(members):
    out = keras.ops.convert_to_numpy(combine_members(members, "softmax_logits", axis=1))
    np.testing.assert_allclose(softmax(out), softmax(members).mean(1), rtol=1e-5)
    # and it is not the mean of the logits
    assert not np.allclose(softmax(out), softmax(members.mean(1)), rtol=1e-3)


def test_sigmoid_logits_give_the_mean_member_probability(members):
    out = keras.ops.convert_to_numpy(combine_members(members, "sigmoid_logits", axis=1))
    sigmoid = lambda z: 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(sigmoid(out), sigmoid(members).mean(1), rtol=1e-5)


def test_huge_logits_stay_finite():
    members = np.array([[[1000.0, -1000.0]], [[-1000.0, 1000.0]]], dtype="float32")
    out = keras.ops.convert_to_numpy(combine_members(members, "softmax_logits", axis=0))
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(softmax(out), [[0.5, 0.5]], atol=1e-6)


def test_unknown_method_is_rejected(members):
    with pytest.raises(ValueError, match="ensemble_method"):
        combine_members(members, "vote")


def test_gaussian_members_combine_to_the_moment_matched_mixture():
    rng = np.random.default_rng(3)
    mu, sigma = rng.normal(size=(5, 3, 2)), rng.random((5, 3, 2)) + 0.1
    members = np.concatenate([mu, sigma], axis=-1).astype("float32")
    out = keras.ops.convert_to_numpy(combine_members(members, "gaussian", axis=1))
    mean = mu.mean(1)
    var = (sigma**2 + mu**2).mean(1) - mean**2
    np.testing.assert_allclose(out[:, :2], mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[:, 2:], np.sqrt(var), rtol=1e-4)


def test_gaussian_outputs_are_not_class_probabilities():
    from keras_mimo.ensembling import to_probabilities

    with pytest.raises(ValueError, match="regression head"):
        to_probabilities(np.zeros((2, 4), "float32"), "gaussian")
