"""keras_mimo.datasets.cifar: loading CIFAR from a local npz copy or TFDS."""

import time

import numpy as np
import pytest

from keras_mimo.datasets import cifar
from keras_mimo.datasets import tfds_loading


def test_offline_without_data_fails_fast_with_a_helpful_message(tmp_path, monkeypatch):
    pytest.importorskip("tensorflow_datasets")
    monkeypatch.setattr(tfds_loading, "online", lambda *a, **k: False)
    start = time.time()
    with pytest.raises(tfds_loading.DataUnavailableError, match="--npz_dir"):
        cifar.load_tfds("cifar10", str(tmp_path / "empty"))
    assert time.time() - start < 30


def test_missing_npz_files_are_named(tmp_path):
    with pytest.raises(tfds_loading.DataUnavailableError, match="train_0.npz"):
        cifar.load_npz(str(tmp_path))


def test_npz_labels_beyond_the_classes_point_to_cifar100(tmp_path):
    rng = np.random.default_rng(0)
    for k in range(5):
        np.savez(tmp_path / f"train_{k}.npz", x=np.zeros((4, 32, 32, 3), np.uint8), y=rng.integers(0, 100, 4))
    np.savez(tmp_path / "test.npz", x=np.zeros((4, 32, 32, 3), np.uint8), y=np.array([0, 1, 2, 99]))
    with pytest.raises(ValueError, match="--dataset cifar100"):
        cifar.load_npz(str(tmp_path))
    assert cifar.load_npz(str(tmp_path), num_classes=100)[3].max() == 99


@pytest.mark.parametrize("num_classes", [0, -3, 2.5, True])
def test_a_bad_num_classes_is_refused_by_name(tmp_path, num_classes):
    with pytest.raises(ValueError, match=r"Received: num_classes="):
        cifar.load_npz(str(tmp_path), num_classes=num_classes)


def test_an_unknown_dataset_is_refused_by_name():
    with pytest.raises(ValueError, match=r"Received: dataset='mnist'"):
        cifar.load_tfds("mnist")


def test_normalize_uses_the_cifar10_channel_statistics():
    images = np.full((2, 4, 4, 3), 255, np.uint8)
    expected = (1.0 - np.array([0.4914, 0.4822, 0.4465])) / np.array([0.2470, 0.2435, 0.2616])
    out = cifar.normalize(images)
    assert out.dtype == np.float32 and out.shape == images.shape
    np.testing.assert_allclose(out[0, 0, 0], expected, rtol=1e-6)


def test_normalize_refuses_float_images_that_would_be_read_as_0_to_255():
    with pytest.raises(ValueError, match="uint8 RGB images.*dtype float32"):
        cifar.normalize(np.full((1, 32, 32, 3), 0.5, np.float32))
