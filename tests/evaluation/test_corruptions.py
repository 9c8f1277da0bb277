import json

import numpy as np
import pytest

import keras
import keras_mimo
from keras_mimo.evaluation import corruptions
from tests.testing import installed_or_skip


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", corruptions.CORRUPTIONS)
def test_every_corruption_is_deterministic_for_a_seed(images, name):
    a = corruptions.corrupt_images(images, name, 3, seed=1)
    b = corruptions.corrupt_images(images, name, 3, seed=1)
    assert a.shape == images.shape and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, images)


def test_other_seed_gives_other_noise_and_global_state_is_kept(images):
    np.random.seed(123)
    expected_next = np.random.rand()
    np.random.seed(123)
    a = corruptions.corrupt_images(images, "gaussian_noise", 2, seed=1)
    assert np.random.rand() == expected_next
    assert not np.array_equal(a, corruptions.corrupt_images(images, "gaussian_noise", 2, seed=2))


def test_severity_increases_the_damage(images):
    damage = [
        np.abs(corruptions.corrupt_images(images, "gaussian_noise", s).astype(int) - images).mean()
        for s in corruptions.SEVERITIES
    ]
    assert damage == sorted(damage)


@pytest.mark.parametrize(
    "kwargs,match",
    [(dict(corruption="rain"), "corruption"), (dict(severity=6), "severity")],
)
def test_bad_arguments_are_rejected(images, kwargs, match):
    args = dict(corruption="fog", severity=1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        corruptions.corrupt_images(images, **args)
    with pytest.raises(ValueError, match="uint8"):
        corruptions.corrupt_images(images.astype("float32"), "fog", 1)


def test_aggregates_are_plain_means_over_type_and_severity():
    per = {
        "fog": {
            1: dict(accuracy=0.9, nll=0.3, ece=0.01, brier=0.1),
            2: dict(accuracy=0.7, nll=0.9, ece=0.05, brier=0.3),
        },
        "snow": {1: dict(accuracy=0.5, nll=1.5, ece=0.2, brier=0.6)},
    }
    summary = corruptions.aggregate_corruption_results(per)
    np.testing.assert_allclose(summary["cA"], (0.9 + 0.7 + 0.5) / 3)
    np.testing.assert_allclose(summary["cNLL"], (0.3 + 0.9 + 1.5) / 3)
    np.testing.assert_allclose(summary["per_severity"]["1"]["accuracy"], 0.7)
    np.testing.assert_allclose(summary["per_severity"]["2"]["ece"], 0.05)


def test_evaluate_corruptions_on_a_mimo_model(cnn_mimo):
    inputs = keras.Input((32, 32, 3))
    x = keras_mimo.MIMOInput(2)(inputs)
    x = keras.layers.Conv2D(4, 3, strides=4)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras_mimo.MIMOModel(inputs, keras_mimo.MIMOHead(10, 2, activation="softmax")(x))
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 12)
    results = keras_mimo.evaluation.evaluate_corruptions(
        model, images, labels, corruptions=("fog", "pixelate"), severities=(1, 5), verbose=0
    )
    assert set(results["per_corruption"]) == {"fog", "pixelate"}
    assert set(results["per_corruption"]["fog"]) == {1, 5}
    means = [r["accuracy"] for by in results["per_corruption"].values() for r in by.values()]
    np.testing.assert_allclose(results["cA"], np.mean(means))
    json.dumps(results)


def test_tfds_source_reads_cifar10_corrupted(cnn_mimo):
    tfds = pytest.importorskip("tensorflow_datasets")
    installed_or_skip("tensorflow", "TFDS reads its data through TensorFlow")
    inputs = keras.Input((32, 32, 3))
    x = keras_mimo.MIMOInput(2)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras_mimo.MIMOModel(inputs, keras_mimo.MIMOHead(10, 2, activation="softmax")(x))
    with tfds.testing.mock_data(num_examples=6):
        results = keras_mimo.evaluation.evaluate_corruptions(
            model, None, None, corruptions=("fog",), severities=(2,), source="tfds", verbose=0
        )
    assert results["per_corruption"]["fog"][2]["num_examples"] == 6
