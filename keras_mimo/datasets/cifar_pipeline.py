"""Training batches of CIFAR images: per-example augmentation, normalization, shuffling.

The reference recipe's augmentation (a random 32x32 crop after zero padding,
and a horizontal flip), as a `tf.data` pipeline or as a
`keras.utils.PyDataset` that needs no TensorFlow.
"""

import numpy as np

from keras_mimo._validation import check_count
from keras_mimo._validation import check_seed

from keras_mimo.datasets.cifar import MEAN
from keras_mimo.datasets.cifar import STD
from keras_mimo.datasets.cifar import normalize

__all__ = ["augment_numpy", "numpy_train_dataset", "tf_available", "tf_train_dataset"]


def _check_crop_padding(crop_padding) -> int:
    """`crop_padding` as an int >= 0 (a Python or numpy integer), else a TypeError / ValueError naming it."""
    return check_count(crop_padding, "crop_padding", minimum=0)


def _check_batches(x, y, batch_size, seed, augment, crop_padding) -> tuple:
    """The checked `(x, y, batch_size, seed, crop_padding)` of a training pipeline; errors name the argument."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"`x` must be RGB images (N, H, W, 3). Received: x of shape {x.shape}")
    if y.ndim < 1 or len(y) != len(x):
        raise ValueError(f"`y` must have one label per image of `x`, {len(x)}. Received: y of shape {y.shape}")
    batch_size = check_count(batch_size, "batch_size")
    if len(x) < batch_size:
        raise ValueError(
            f"`x` must hold at least `batch_size` = {batch_size} images (the last partial batch is dropped). "
            f"Received: {len(x)} images"
        )
    if seed is None:
        raise TypeError("`seed` must be an int (the batches are reproducible). Received: seed=None")
    if not isinstance(augment, (bool, np.bool_)):
        raise TypeError(f"`augment` must be True or False. Received: augment={augment!r}")
    return x, y, batch_size, check_seed(seed), _check_crop_padding(crop_padding)


def augment_numpy(images: np.ndarray, rng: np.random.Generator, crop_padding: int = 2) -> np.ndarray:
    """Random crop after zero padding by `crop_padding` pixels, and horizontal flip, per example.

    The reference pads 32x32 images to 36x36 (`crop_padding=2`, offsets of
    +-2 pixels) before the random 32x32 crop.

    Args:
        images: uint8 `(N, H, W, C)`.
        rng: the random generator of the crops and flips.
        crop_padding: zero padding in pixels on each side before the crop.

    Returns:
        uint8 `(N, H, W, C)`.
    """
    crop_padding = _check_crop_padding(crop_padding)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"`rng` must be a numpy Generator (np.random.default_rng(seed)). Received: rng={rng!r}")
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"`images` must be 4-D (N, H, W, C). Received: images of shape {images.shape}")
    n, h, w, _ = images.shape
    if not n:
        return images.copy()
    p = crop_padding
    padded = np.pad(images, ((0, 0), (p, p), (p, p), (0, 0)), mode="constant")
    dy, dx = rng.integers(0, 2 * p + 1, n), rng.integers(0, 2 * p + 1, n)
    out = np.stack([padded[i, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])
    flip = rng.random(n) < 0.5
    out[flip] = out[flip, :, ::-1]
    return out


def tf_train_dataset(
    x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, augment: bool = True, crop_padding: int = 2
):
    """A `tf.data.Dataset` of training batches: shuffle, per-example augmentation, normalization.

    Augmentation as `augment_numpy`; batches hold `batch_size` unique
    examples (the last partial batch is dropped).

    Args:
        x: uint8 images `(N, 32, 32, 3)`.
        y: labels `(N,)`.
        batch_size: examples per batch.
        seed: the seed of the shuffling and augmentation.
        augment: whether to crop and flip.
        crop_padding: zero padding in pixels before the random 32x32 crop.

    Returns:
        A dataset of `(float32 (batch_size, 32, 32, 3), labels (batch_size,))`.
    """
    x, y, batch_size, seed, crop_padding = _check_batches(x, y, batch_size, seed, augment, crop_padding)
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed, reshuffle_each_iteration=True)

    def prepare(image, label, *, seed_pair):
        image = tf.cast(image, tf.float32) / 255.0
        if augment:
            size = 32 + 2 * crop_padding
            image = tf.image.resize_with_crop_or_pad(image, size, size)
            image = tf.image.stateless_random_crop(image, (32, 32, 3), seed=seed_pair)
            image = tf.image.stateless_random_flip_left_right(image, seed=seed_pair + 1)
        return (image - MEAN) / STD, label

    counter = tf.data.Dataset.counter(seed).map(lambda c: tf.stack([c, c * 2 + 1]))
    ds = tf.data.Dataset.zip((ds, counter)).map(
        lambda xy, s: prepare(xy[0], xy[1], seed_pair=s),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def tf_available() -> bool:
    """Whether TensorFlow can be imported (for `tf_train_dataset` and TensorBoard logs)."""
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return False
    return True


def numpy_train_dataset(
    x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, augment: bool = True, crop_padding: int = 2
):
    """The batches of `tf_train_dataset` as a `keras.utils.PyDataset` (no TensorFlow needed).

    Args and batches as `tf_train_dataset`'s; reshuffled at each epoch's end.
    """
    x, y, batch_size, seed, crop_padding = _check_batches(x, y, batch_size, seed, augment, crop_padding)
    import keras

    class CifarBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.epoch = 0
            self.order = np.random.default_rng([seed, 0]).permutation(len(x))

        def __len__(self):
            return len(x) // batch_size

        def __getitem__(self, i):
            if not -len(self) <= i < len(self):
                raise IndexError(f"batch index {i} out of range for {len(self)} batches")
            i %= len(self)
            idx = self.order[i * batch_size : (i + 1) * batch_size]
            images = x[idx]
            if augment:
                images = augment_numpy(images, np.random.default_rng([seed, self.epoch, i]), crop_padding)
            return normalize(images), y[idx]

        def on_epoch_end(self):
            self.epoch += 1
            self.order = np.random.default_rng([seed, self.epoch]).permutation(len(x))

    return CifarBatches()
