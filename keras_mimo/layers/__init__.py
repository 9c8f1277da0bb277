"""The two layers that turn a backbone into a MIMO network."""

from keras_mimo.layers.mimo_head import MIMOHead
from keras_mimo.layers.mimo_input import MIMOInput

__all__ = [
    "MIMOHead",
    "MIMOInput",
]
