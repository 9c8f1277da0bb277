"""CIFAR-10/100 as uint8 arrays: from a local npz copy or through TFDS, and their normalization.

TensorFlow and TFDS are optional: `load_tfds` imports them when called.
"""

import os

import numbers

import numpy as np

from keras_mimo.datasets.tfds_loading import DataUnavailableError
from keras_mimo.datasets.tfds_loading import load_prepared_or_download

__all__ = ["MEAN", "NUM_CLASSES", "STD", "load_npz", "load_tfds", "normalize"]

MEAN = np.array([0.4914, 0.4822, 0.4465], np.float32)
STD = np.array([0.2470, 0.2435, 0.2616], np.float32)
NUM_CLASSES = {"cifar10": 10, "cifar100": 100}


def load_npz(npz_dir: str, num_classes: int = 10) -> tuple:
    """Reads a local CIFAR copy: `train_0..4.npz` and `test.npz`, each with arrays `x` and `y`.

    CIFAR-10 or CIFAR-100 (`num_classes=100`) in the same layout
    (`keras_mimo.datasets.cifar_tarball` writes it from the official tarball).

    Args:
        npz_dir: the directory holding the six files.
        num_classes: the dataset's classes; every label must lie in `[0, num_classes)`.

    Returns:
        `(x_train, y_train, x_test, y_test)`: uint8 images `(N, 32, 32, 3)`
        and int32 labels `(N,)`.

    Raises:
        DataUnavailableError: a file is missing.
        ValueError: a label is `num_classes` or more.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes not in (10, 100):
        raise ValueError(
            f"`num_classes` must be 10 (CIFAR-10) or 100 (CIFAR-100). Received: num_classes={num_classes!r}"
        )
    num_classes = int(num_classes)
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


def load_tfds(dataset: str, data_dir: str | None = None) -> tuple:
    """CIFAR from TFDS; fails within seconds with a helpful message when offline and unprepared.

    Args:
        dataset: `"cifar10"` or `"cifar100"`.
        data_dir: the TFDS data directory (TFDS's default when None).

    Returns:
        `(x_train, y_train, x_test, y_test)` as `load_npz` returns them.

    Raises:
        DataUnavailableError: not prepared in `data_dir` and offline (see
            `keras_mimo.datasets.tfds_loading.load_prepared_or_download`).
    """
    if dataset not in NUM_CLASSES:
        raise ValueError(f"`dataset` must be one of {sorted(NUM_CLASSES)}. Received: dataset={dataset!r}")
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


def normalize(images: np.ndarray) -> np.ndarray:
    """uint8 images `(N, H, W, 3)` (integers 0..255) -> float32 `(N, H, W, 3)` standardized with CIFAR-10's channel statistics."""
    images = np.asarray(images)
    if images.ndim < 1 or images.shape[-1] != 3 or images.dtype.kind not in "ui":
        # floats are refused: images scaled to [0, 1] would be read as 0..255 and come out wrong
        raise ValueError(
            f"`images` must be uint8 RGB images (N, H, W, 3), values 0..255. Received: shape {images.shape}, "
            f"dtype {images.dtype}"
        )
    return (images.astype(np.float32) / 255.0 - MEAN) / STD
