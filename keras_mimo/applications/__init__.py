"""Reference backbones and training schedules for MIMO experiments."""

from keras_mimo.applications.schedules import WarmUpStepDecay
from keras_mimo.applications.wide_resnet import wide_resnet
from keras_mimo.applications.virtual_batch_norm import VirtualBatchNormalization

__all__ = [
    "VirtualBatchNormalization",
    "WarmUpStepDecay",
    "wide_resnet",
]
