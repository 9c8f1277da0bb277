"""Deprecated: moved to `keras_mimo.datasets` (`cifar`, `cifar_pipeline`, `cifar_tarball`); removed in 0.3.0.

A thin module that re-exports the names it held in 0.1.0 and warns once
(DeprecationWarning) at its first import.
"""

from keras_mimo._deprecation import warn_moved_module
from keras_mimo.datasets.cifar import MEAN  # noqa: F401
from keras_mimo.datasets.cifar import NUM_CLASSES  # noqa: F401
from keras_mimo.datasets.cifar import STD  # noqa: F401
from keras_mimo.datasets.cifar import load_npz  # noqa: F401
from keras_mimo.datasets.cifar import load_tfds  # noqa: F401
from keras_mimo.datasets.cifar import normalize  # noqa: F401
from keras_mimo.datasets.cifar_pipeline import augment_numpy  # noqa: F401
from keras_mimo.datasets.cifar_pipeline import numpy_train_dataset  # noqa: F401
from keras_mimo.datasets.cifar_pipeline import tf_available  # noqa: F401
from keras_mimo.datasets.cifar_pipeline import tf_train_dataset  # noqa: F401
from keras_mimo.datasets.cifar_tarball import main
from keras_mimo.datasets.cifar_tarball import npz_from_tarball  # noqa: F401
from keras_mimo.datasets.tfds_loading import DataUnavailableError  # noqa: F401
from keras_mimo.datasets.tfds_loading import load_prepared_or_download  # noqa: F401

warn_moved_module(
    "keras_mimo.applications.cifar_data",
    "keras_mimo.datasets.cifar, keras_mimo.datasets.cifar_pipeline or keras_mimo.datasets.cifar_tarball",
    "0.3.0",
)

if __name__ == "__main__":  # `python -m keras_mimo.applications.cifar_data --from_tar ... --out ...` (0.1.0)
    main()
