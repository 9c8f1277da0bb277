"""keras_mimo.datasets.cifar_tarball: the official tarball to the npz copy."""

import numpy as np
import pytest

from keras_mimo.datasets import cifar
from keras_mimo.datasets import cifar_tarball


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
    cifar_tarball.main(["--from_tar", str(tmp_path / "cifar.tar.gz"), "--out", str(tmp_path / "npz")])
    x_train, y_train, x_test, y_test = cifar.load_npz(str(tmp_path / "npz"), 100 if cifar100 else 10)
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
        cifar_tarball.npz_from_tarball(str(tmp_path / "other.tar.gz"), str(tmp_path / "out"))
