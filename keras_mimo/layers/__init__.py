"""The two layers that turn a backbone into a MIMO network."""

from keras_mimo.layers.mimo_head import MIMOHead
from keras_mimo.layers.mimo_input import MIMOInput
from keras_mimo.layers.mixmo_input import MixMoInput
from keras_mimo.layers.mixmo_input import MixMoSchedule

__all__ = [
    "MIMOHead",
    "MIMOInput",
    "MixMoInput",
    "MixMoSchedule",
]
