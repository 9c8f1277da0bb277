"""keras_mimo.datasets.cifar_pipeline: augmented training batches."""

import numpy as np
import pytest

from keras_mimo.datasets import cifar_pipeline


def test_numpy_augmentation_crops_and_flips_per_example():
    images = np.arange(2 * 32 * 32 * 3, dtype=np.uint8).reshape(2, 32, 32, 3)
    out = cifar_pipeline.augment_numpy(images, np.random.default_rng(0))
    assert out.shape == images.shape and out.dtype == np.uint8
    same = cifar_pipeline.augment_numpy(images, np.random.default_rng(0))
    np.testing.assert_array_equal(out, same)


@pytest.mark.parametrize("crop_padding", [2, 4])
def test_crop_offsets_stay_within_the_padding(crop_padding):
    images = np.zeros((400, 32, 32, 3), np.uint8)
    images[:, 16, 16] = 255  # a marker pixel
    out = cifar_pipeline.augment_numpy(images, np.random.default_rng(1), crop_padding=crop_padding)
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
    ds = cifar_pipeline.tf_train_dataset(images, np.zeros(64, np.int32), 64, seed=0, crop_padding=2)
    x, _ = next(iter(ds))
    marker = x.numpy()[..., 0] == x.numpy()[..., 0].max()
    rows = np.nonzero(marker)[1]
    assert rows.min() >= 14 and rows.max() <= 18


@pytest.mark.parametrize("crop_padding, error", [(-1, ValueError), (1.5, TypeError), (None, TypeError)])
def test_a_bad_crop_padding_is_refused_by_name(crop_padding, error):
    with pytest.raises(error, match=r"Received: crop_padding="):
        cifar_pipeline.augment_numpy(np.zeros((1, 32, 32, 3), np.uint8), np.random.default_rng(0), crop_padding)


def test_images_that_are_not_4d_are_refused():
    with pytest.raises(ValueError, match=r"Received: images of shape \(32, 32, 3\)"):
        cifar_pipeline.augment_numpy(np.zeros((32, 32, 3), np.uint8), np.random.default_rng(0))


def test_the_numpy_batches_are_normalized_unique_examples_reshuffled_each_epoch():
    x = np.arange(10, dtype=np.uint8)[:, None, None, None] * np.ones((1, 32, 32, 3), np.uint8)
    y = np.arange(10, dtype=np.int32)
    batches = cifar_pipeline.numpy_train_dataset(x, y, 4, seed=0, augment=False)
    assert len(batches) == 2  # the partial batch is dropped
    first = np.concatenate([batches[i][1] for i in range(2)])
    assert len(set(first)) == 8 and batches[0][0].dtype == np.float32
    batches.on_epoch_end()
    assert not np.array_equal(first, np.concatenate([batches[i][1] for i in range(2)]))


def test_the_batches_refuse_a_missing_seed_a_scalar_y_a_non_bool_augment_and_an_index_past_the_end():
    x, y = np.zeros((8, 32, 32, 3), np.uint8), np.arange(8)
    with pytest.raises(TypeError, match="Received: seed=None"):
        cifar_pipeline.numpy_train_dataset(x, y, 4, None)
    with pytest.raises(ValueError, match="`y` must have one label per image"):
        cifar_pipeline.numpy_train_dataset(x, 3, 4, 0)
    with pytest.raises(TypeError, match="Received: augment='no'"):
        cifar_pipeline.numpy_train_dataset(x, y, 4, 0, augment="no")
    batches = cifar_pipeline.numpy_train_dataset(x, y, 4, 0)
    assert len(batches) == 2 and batches[-1][0].shape == (4, 32, 32, 3)
    with pytest.raises(IndexError):
        batches[2]
