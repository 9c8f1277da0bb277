"""CIFAR data for the reference recipe: TFDS or a local npz copy, tf.data or numpy batches.

Used by `examples/cifar_resnet.py`, `examples/quickstart.py` and the
benchmarks. TensorFlow and TFDS are optional: they are imported only by the
functions that need them.
"""

import os

import numpy as np

from keras_mimo.applications.tfds_loading import DataUnavailableError
from keras_mimo.applications.tfds_loading import load_prepared_or_download

MEAN = np.array([0.4914, 0.4822, 0.4465], np.float32)
STD = np.array([0.2470, 0.2435, 0.2616], np.float32)
NUM_CLASSES = {"cifar10": 10, "cifar100": 100}


def load_npz(npz_dir, num_classes: int = 10):
    """`(x_train, y_train, x_test, y_test)` uint8 NHWC from `train_{0..4}.npz`, `test.npz`.

    CIFAR-10 or CIFAR-100 (`num_classes=100`) in the same layout; labels
    must lie in `[0, num_classes)`.
    """
    names = [f"train_{k}.npz" for k in range(5)] + ["test.npz"]
    missing = [n for n in names if not os.path.exists(os.path.join(npz_dir, n))]
    if missing:
        raise DataUnavailableError(
            f"--npz_dir={npz_dir!r} lacks {missing}. It must hold train_0..4.npz and "
            "test.npz with uint8 arrays `x` (N, 32, 32, 3) and `y` (N,). Or leave out "
            "--npz_dir to load the dataset through TFDS (downloaded once, --data_dir)."
        )
    parts = [np.load(os.path.join(npz_dir, n)) for n in names]
    x_train = np.concatenate([p["x"] for p in parts[:5]])
    y_train = np.concatenate([p["y"] for p in parts[:5]]).astype(np.int32)
    y_test = parts[5]["y"].astype(np.int32)
    top = int(max(y_train.max(), y_test.max()))
    if top >= num_classes:
        raise ValueError(
            f"--npz_dir={npz_dir!r} has labels up to {top}, more than the {num_classes} "
            "classes of --dataset: pass --dataset cifar100 for a CIFAR-100 copy."
        )
    return x_train, y_train, parts[5]["x"], y_test


def load_tfds(dataset, data_dir=None):
    """CIFAR from TFDS; fails fast with a helpful message when offline and unprepared.

    See `tfds_loading.load_prepared_or_download`.
    """
    import tensorflow_datasets as tfds

    def load(download):
        splits = tfds.load(dataset, split=["train", "test"], data_dir=data_dir, as_supervised=True, download=download)
        arrays = []
        for ds in splits:
            batches = list(tfds.as_numpy(ds.batch(4096)))
            arrays += [
                np.concatenate([b[0] for b in batches]).astype(np.uint8),
                np.concatenate([b[1] for b in batches]).astype(np.int32),
            ]
        return tuple(arrays)

    return load_prepared_or_download(
        load, dataset, data_dir, ", or --npz_dir with a local copy (train_0..4.npz, test.npz)"
    )


def normalize(images):
    """uint8 NHWC -> float32 standardized with the CIFAR-10 channel statistics."""
    return (images.astype(np.float32) / 255.0 - MEAN) / STD


def augment_numpy(images, rng, crop_padding: int = 2):
    """Random crop after zero padding by `crop_padding` pixels, and horizontal flip, per example.

    The reference pads 32x32 images to 36x36 (`crop_padding=2`, offsets of
    +-2 pixels) before the random 32x32 crop. uint8 NHWC in and out.
    """
    n, h, w, _ = images.shape
    p = crop_padding
    padded = np.pad(images, ((0, 0), (p, p), (p, p), (0, 0)), mode="constant")
    dy, dx = rng.integers(0, 2 * p + 1, n), rng.integers(0, 2 * p + 1, n)
    out = np.stack([padded[i, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])
    flip = rng.random(n) < 0.5
    out[flip] = out[flip, :, ::-1]
    return out


def tf_train_dataset(x, y, batch_size, seed, augment=True, crop_padding: int = 2):
    """tf.data: shuffle, per-example augmentation, normalization, batches of unique examples.

    Augmentation as `augment_numpy`: random crop after `crop_padding` pixels
    of zero padding, and horizontal flip.
    """
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
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return False
    return True


def numpy_train_dataset(x, y, batch_size, seed, augment=True, crop_padding: int = 2):
    """The same batches as a `keras.utils.PyDataset` (no TensorFlow needed)."""
    import keras

    class CifarBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.epoch = 0
            self.order = np.random.default_rng([seed, 0]).permutation(len(x))

        def __len__(self):
            return len(x) // batch_size

        def __getitem__(self, i):
            idx = self.order[i * batch_size : (i + 1) * batch_size]
            images = x[idx]
            if augment:
                images = augment_numpy(images, np.random.default_rng([seed, self.epoch, i]), crop_padding)
            return normalize(images), y[idx]

        def on_epoch_end(self):
            self.epoch += 1
            self.order = np.random.default_rng([seed, self.epoch]).permutation(len(x))

    return CifarBatches()


def _tar_member(tar, suffix):
    names = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(suffix)]
    if len(names) != 1:
        raise ValueError(f"The tarball has {len(names)} files ending in {suffix!r}; expected one.")
    import pickle

    return pickle.load(tar.extractfile(names[0]), encoding="bytes")


def npz_from_tarball(tarball, out_dir) -> str:
    """Writes the npz layout of `load_npz` from an official CIFAR python tarball.

    Args:
        tarball: `cifar-10-python.tar.gz` (batches `data_batch_1..5`,
            `test_batch`) or `cifar-100-python.tar.gz` (`train`, `test`;
            fine labels), as downloaded from www.cs.toronto.edu/~kriz/cifar.html.
        out_dir: where `train_0..4.npz` and `test.npz` go (created).

    Returns:
        `out_dir`, for `--npz_dir` (with `--dataset cifar100` for CIFAR-100).
    """
    import tarfile

    def arrays(batch):
        key = b"labels" if b"labels" in batch else b"fine_labels"
        x = np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return x, np.asarray(batch[key], np.uint8)

    with tarfile.open(tarball) as tar:
        names = [m.name for m in tar.getmembers()]
        if any(n.endswith("data_batch_1") for n in names):
            train = [arrays(_tar_member(tar, f"data_batch_{k}")) for k in range(1, 6)]
            test = arrays(_tar_member(tar, "test_batch"))
        elif any(n.endswith("/train") for n in names):
            x, y = arrays(_tar_member(tar, "/train"))
            train = list(zip(np.array_split(x, 5), np.array_split(y, 5)))
            test = arrays(_tar_member(tar, "/test"))
        else:
            raise ValueError(
                f"{tarball!r} is neither cifar-10-python.tar.gz (data_batch_1..5, test_batch) nor "
                "cifar-100-python.tar.gz (train, test)."
            )
    os.makedirs(out_dir, exist_ok=True)
    for k, (x, y) in enumerate(train):
        np.savez(os.path.join(out_dir, f"train_{k}.npz"), x=x, y=y)
    np.savez(os.path.join(out_dir, "test.npz"), x=test[0], y=test[1])
    return out_dir


def main(argv=None):
    """`python -m keras_mimo.applications.cifar_data --from_tar TARBALL --out DIR`."""
    import argparse

    parser = argparse.ArgumentParser(
        description="Convert an official CIFAR-10/100 python tarball into the npz copy that "
        "examples/cifar_resnet.py --npz_dir and the benchmarks read (no network needed)."
    )
    parser.add_argument("--from_tar", required=True, help="cifar-10-python.tar.gz or cifar-100-python.tar.gz")
    parser.add_argument("--out", required=True, help="output directory for train_0..4.npz and test.npz")
    args = parser.parse_args(argv)
    out = npz_from_tarball(args.from_tar, args.out)
    print(f"wrote {out}/train_0..4.npz and {out}/test.npz")


if __name__ == "__main__":
    main()
