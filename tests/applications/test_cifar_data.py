import time

import numpy as np
import pytest

from keras_mimo.applications import cifar_data
from keras_mimo.applications import tfds_loading


def test_offline_without_data_fails_fast_with_a_helpful_message(tmp_path, monkeypatch):
    pytest.importorskip("tensorflow_datasets")
    monkeypatch.setattr(tfds_loading, "online", lambda *a, **k: False)
    start = time.time()
    with pytest.raises(cifar_data.DataUnavailableError, match="--npz_dir"):
        cifar_data.load_tfds("cifar10", str(tmp_path / "empty"))
    assert time.time() - start < 30


def test_missing_npz_files_are_named(tmp_path):
    with pytest.raises(cifar_data.DataUnavailableError, match="train_0.npz"):
        cifar_data.load_npz(str(tmp_path))


def test_numpy_augmentation_crops_and_flips_per_example():
    images = np.arange(2 * 32 * 32 * 3, dtype=np.uint8).reshape(2, 32, 32, 3)
    out = cifar_data.augment_numpy(images, np.random.default_rng(0))
    assert out.shape == images.shape and out.dtype == np.uint8
    same = cifar_data.augment_numpy(images, np.random.default_rng(0))
    np.testing.assert_array_equal(out, same)
