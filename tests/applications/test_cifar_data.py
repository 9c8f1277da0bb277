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


@pytest.mark.parametrize("crop_padding", [2, 4])
def test_crop_offsets_stay_within_the_padding(crop_padding):
    images = np.zeros((400, 32, 32, 3), np.uint8)
    images[:, 16, 16] = 255  # a marker pixel
    out = cifar_data.augment_numpy(images, np.random.default_rng(1), crop_padding=crop_padding)
    rows, cols = np.nonzero(out[..., 0] == 255)[1:]
    assert len(rows) == 400  # the marker survives every crop
    shifts = rows - 16
    assert set(shifts) == set(range(-crop_padding, crop_padding + 1))  # offsets 0..2p, all seen
    # columns: shifted by the same offsets, mirrored (31 - c) by a flip
    assert np.all(np.abs(cols - 15.5) <= crop_padding + 0.5)
    assert set(cols) >= {16 - crop_padding, 15 + crop_padding}


def test_tf_pipeline_uses_the_same_crop_padding(tmp_path):
    pytest.importorskip("tensorflow")
    images = np.zeros((64, 32, 32, 3), np.uint8)
    images[:, 16, 16] = 255
    ds = cifar_data.tf_train_dataset(images, np.zeros(64, np.int32), 64, seed=0, crop_padding=2)
    x, _ = next(iter(ds))
    marker = x.numpy()[..., 0] == x.numpy()[..., 0].max()
    rows = np.nonzero(marker)[1]
    assert rows.min() >= 14 and rows.max() <= 18


def test_npz_labels_beyond_the_classes_point_to_cifar100(tmp_path):
    rng = np.random.default_rng(0)
    for k in range(5):
        np.savez(tmp_path / f"train_{k}.npz", x=np.zeros((4, 32, 32, 3), np.uint8), y=rng.integers(0, 100, 4))
    np.savez(tmp_path / "test.npz", x=np.zeros((4, 32, 32, 3), np.uint8), y=np.array([0, 1, 2, 99]))
    with pytest.raises(ValueError, match="--dataset cifar100"):
        cifar_data.load_npz(str(tmp_path))
    assert cifar_data.load_npz(str(tmp_path), num_classes=100)[3].max() == 99


def fake_tarball(path, cifar100=False):
    """A tarball in the official layout with 4 training images per batch and 3 test images."""
    import io
    import pickle
    import tarfile

    rng = np.random.default_rng(0)
    key = b"fine_labels" if cifar100 else b"labels"
    top = "cifar-100-python" if cifar100 else "cifar-10-batches-py"
    files = {"train": 20, "test": 3} if cifar100 else {**{f"data_batch_{k}": 4 for k in range(1, 6)}, "test_batch": 3}
    batches = {}
    with tarfile.open(path, "w:gz") as tar:
        for name, n in files.items():
            batch = {
                b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                key: rng.integers(0, 100 if cifar100 else 10, n).tolist(),
            }
            batches[name] = batch
            blob = pickle.dumps(batch)
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return batches, key


@pytest.mark.parametrize("cifar100", [False, True])
def test_npz_from_the_official_tarball_loads_with_the_right_pixels(tmp_path, cifar100):
    batches, key = fake_tarball(tmp_path / "cifar.tar.gz", cifar100)
    cifar_data.main(["--from_tar", str(tmp_path / "cifar.tar.gz"), "--out", str(tmp_path / "npz")])
    x_train, y_train, x_test, y_test = cifar_data.load_npz(str(tmp_path / "npz"), 100 if cifar100 else 10)
    assert x_train.shape == (20, 32, 32, 3) and x_test.shape == (3, 32, 32, 3) and x_train.dtype == np.uint8
    first = batches["train" if cifar100 else "data_batch_1"]
    # the official rows are 1024 red, then green, then blue values, row-major
    np.testing.assert_array_equal(x_train[0, 0, 1], first[b"data"][0, [1, 1025, 2049]])
    np.testing.assert_array_equal(y_train[:4], first[key][:4])
    np.testing.assert_array_equal(y_test, batches["test" if cifar100 else "test_batch"][key])


def test_an_unknown_tarball_is_refused(tmp_path):
    import tarfile

    with tarfile.open(tmp_path / "other.tar.gz", "w:gz"):
        pass
    with pytest.raises(ValueError, match="neither"):
        cifar_data.npz_from_tarball(str(tmp_path / "other.tar.gz"), str(tmp_path / "out"))
