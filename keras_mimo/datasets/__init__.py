"""Data for MIMO experiments: CIFAR-10/100 and TFDS access that fails fast offline.

- `cifar`: CIFAR as uint8 arrays from a local npz copy or TFDS, and `normalize`.
- `cifar_pipeline`: augmented, normalized training batches (`tf.data` or a
  `keras.utils.PyDataset`).
- `cifar_tarball`: the official python tarball to the npz copy (command line:
  `python -m keras_mimo.datasets.cifar_tarball --from_tar ... --out ...`).
- `tfds_loading`: TFDS loading that raises `DataUnavailableError` within
  seconds when the data is neither prepared nor downloadable.
"""

from keras_mimo.datasets import cifar
from keras_mimo.datasets import cifar_pipeline
from keras_mimo.datasets import cifar_tarball
from keras_mimo.datasets import tfds_loading
from keras_mimo.datasets.tfds_loading import DataUnavailableError

__all__ = [
    "DataUnavailableError",
    "cifar",
    "cifar_pipeline",
    "cifar_tarball",
    "tfds_loading",
]
