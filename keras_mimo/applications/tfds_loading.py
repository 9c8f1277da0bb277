"""Deprecated: moved to `keras_mimo.datasets.tfds_loading`; removed in 0.3.0.

A thin module that re-exports the names it held in 0.1.0 and warns once
(DeprecationWarning) at its first import.
"""

from keras_mimo._deprecation import warn_moved_module
from keras_mimo.datasets.tfds_loading import DataUnavailableError  # noqa: F401
from keras_mimo.datasets.tfds_loading import load_prepared_or_download  # noqa: F401
from keras_mimo.datasets.tfds_loading import online  # noqa: F401

warn_moved_module("keras_mimo.applications.tfds_loading", "keras_mimo.datasets.tfds_loading", "0.3.0")
