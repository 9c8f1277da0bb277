import keras
import numpy as np
import pytest

from keras_mimo.applications import VirtualBatchNormalization


def numpy_group_norm(x, groups, eps):
    parts = x.reshape((groups, -1) + x.shape[1:])
    axes = tuple(range(1, parts.ndim - 1))
    mean = parts.mean(axis=axes, keepdims=True)
    var = parts.var(axis=axes, keepdims=True)
    return ((parts - mean) / np.sqrt(var + eps)).reshape(x.shape), mean, var


@pytest.mark.parametrize("shape", [(8, 3), (8, 4, 4, 2)])
def test_training_normalizes_each_group_of_rows(shape):
    rng = np.random.default_rng(0)
    x = (rng.normal(size=shape) * np.arange(1, shape[0] + 1).reshape((-1,) + (1,) * (len(shape) - 1))).astype("float32")
    layer = VirtualBatchNormalization(virtual_batch_size=2, momentum=0.9, epsilon=1e-3)
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    expected, mean, var = numpy_group_norm(x, 4, 1e-3)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    # moving statistics follow the mean over groups of the group statistics
    channels = shape[-1]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer.moving_mean), 0.1 * mean.reshape(4, channels).mean(0), rtol=1e-4, atol=1e-6
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer.moving_variance), 0.9 + 0.1 * var.reshape(4, channels).mean(0), rtol=1e-4
    )


def test_inference_equals_plain_batch_norm_with_the_same_statistics():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 5)).astype("float32")
    virtual = VirtualBatchNormalization(virtual_batch_size=3)
    plain = keras.layers.BatchNormalization()
    virtual.build(x.shape)
    plain.build(x.shape)
    weights = [
        rng.normal(size=5).astype("float32"),
        rng.normal(size=5).astype("float32"),
        rng.normal(size=5).astype("float32"),
        rng.random(5).astype("float32") + 0.5,
    ]
    virtual.set_weights(weights)
    plain.set_weights(weights)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(virtual(x, training=False)),
        keras.ops.convert_to_numpy(plain(x, training=False)),
        rtol=1e-5,
        atol=1e-6,
    )


def test_a_batch_not_divisible_is_one_group_and_none_is_plain_batch_norm():
    x = np.random.default_rng(2).normal(size=(5, 3)).astype("float32")
    expected, _, _ = numpy_group_norm(x, 1, 1e-3)
    for layer in (VirtualBatchNormalization(virtual_batch_size=2), VirtualBatchNormalization(None)):
        out = keras.ops.convert_to_numpy(layer(x, training=True))
        np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_config_round_trip_and_bad_arguments():
    layer = VirtualBatchNormalization(virtual_batch_size=64, momentum=0.9)
    clone = VirtualBatchNormalization.from_config(layer.get_config())
    assert clone.virtual_batch_size == 64 and clone.momentum == 0.9
    with pytest.raises(ValueError, match="virtual_batch_size"):
        VirtualBatchNormalization(virtual_batch_size=0)
    with pytest.raises(ValueError, match="channel axis"):  # neither channels last nor channels first
        VirtualBatchNormalization(virtual_batch_size=2, axis=2).build((4, 3, 5, 6))
