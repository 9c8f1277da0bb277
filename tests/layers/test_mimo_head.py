import keras
import numpy as np
import pytest

from keras_mimo import MIMOHead


def head_reference(layer, x):
    """numpy: dense with M*K units, split into members, stacked example-major (row n * M + m)."""
    kernel = keras.ops.convert_to_numpy(layer.dense.kernel)
    bias = keras.ops.convert_to_numpy(layer.dense.bias)
    z = (x @ kernel + bias).reshape(len(x), layer.ensemble_size, layer.units)
    return z.reshape(len(x) * layer.ensemble_size, layer.units)


@pytest.mark.parametrize("ensemble_size,units", [(1, 3), (3, 10), (4, 1)])
def test_output_is_example_major_stacked_logits(ensemble_size, units):
    layer = MIMOHead(units, ensemble_size, ensemble_method="mean")
    x = np.random.default_rng(0).random((5, 6)).astype("float32")
    out = keras.ops.convert_to_numpy(layer(x))
    assert out.shape == (5 * ensemble_size, units)
    np.testing.assert_allclose(out, head_reference(layer, x), rtol=1e-5, atol=1e-6)


def test_softmax_is_applied_per_member():
    layer = MIMOHead(4, 3, activation="softmax")
    x = np.random.default_rng(1).random((5, 6)).astype("float32")
    out = keras.ops.convert_to_numpy(layer(x))
    z = head_reference(layer, x)
    expected = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    np.testing.assert_allclose(out, expected, rtol=1e-5)


def test_parameter_count_is_one_dense_with_ensemble_size_times_units():
    layer = MIMOHead(10, 3)
    layer.build((None, 64))
    assert layer.count_params() == 64 * 30 + 30


@pytest.mark.parametrize(
    "activation,units,expected",
    [
        ("softmax", 10, "mean"),
        ("sigmoid", 1, "mean"),
        (None, 10, "softmax_logits"),
        ("log_softmax", 5, "softmax_logits"),
        ("relu", 1, "mean"),
    ],
)
def test_default_ensemble_method_follows_activation(activation, units, expected):
    assert MIMOHead(units, 2, activation=activation).ensemble_method == expected


def test_one_unit_head_without_activation_must_choose():
    with pytest.raises(ValueError, match="sigmoid_logits"):
        MIMOHead(1, 2)
    assert MIMOHead(1, 2, ensemble_method="mean").ensemble_method == "mean"


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(units=0), ValueError, "units"),
        (dict(ensemble_size=0), ValueError, "ensemble_size"),
        (dict(ensemble_method="median"), ValueError, "ensemble_method"),
    ],
)
def test_bad_arguments_are_rejected_at_construction(kwargs, error, match):
    args = dict(units=3, ensemble_size=2)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        MIMOHead(**args)


def test_combine_uses_the_ensemble_method():
    members = np.random.default_rng(2).normal(size=(3, 4, 5)).astype("float32")
    log_probs = members - np.log(np.exp(members).sum(-1, keepdims=True))
    expected = np.log(np.exp(log_probs).mean(0))
    out = keras.ops.convert_to_numpy(MIMOHead(5, 3).combine(members))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_output_is_float32_under_mixed_precision(policy):
    keras.config.set_dtype_policy(policy)
    layer = MIMOHead(4, 2, activation="softmax")
    out = layer(np.random.default_rng(0).random((3, 8)).astype("float32"))
    assert layer.dense.compute_dtype == policy.split("_")[1]
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out).sum(-1), 1.0, rtol=1e-6)


def test_config_round_trip_keeps_every_argument():
    layer = MIMOHead(7, 3, activation="softmax", use_bias=False, kernel_regularizer="l2")
    clone = MIMOHead.from_config(layer.get_config())
    assert (clone.units, clone.ensemble_size, clone.ensemble_method, clone.use_bias) == (7, 3, "mean", False)
    assert clone.get_config() == layer.get_config()


def test_gaussian_head_outputs_means_and_positive_stds_per_member():
    layer = MIMOHead(2, 3, ensemble_method="gaussian")
    x = np.random.default_rng(4).normal(size=(5, 6)).astype("float32")
    out = keras.ops.convert_to_numpy(layer(x))
    assert out.shape == (15, 4) and layer.compute_output_shape((5, 6)) == (15, 4)
    kernel = keras.ops.convert_to_numpy(layer.dense.kernel)
    bias = keras.ops.convert_to_numpy(layer.dense.bias)
    raw = (x @ kernel + bias).reshape(15, 4)  # row n * 3 + m: member m of example n
    np.testing.assert_allclose(out[:, :2], raw[:, :2], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[:, 2:], np.log1p(np.exp(raw[:, 2:])) + 1e-6, rtol=1e-5, atol=1e-5)
    assert (out[:, 2:] > 0).all()


def test_gaussian_head_with_an_activation_is_refused():
    with pytest.raises(ValueError, match="activation"):
        MIMOHead(1, 2, activation="relu", ensemble_method="gaussian")
