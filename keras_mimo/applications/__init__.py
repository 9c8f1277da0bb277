"""Reference backbones, their training schedules and the CIFAR recipe (`cifar_training`) for MIMO experiments."""

from keras_mimo.applications import cifar_training
from keras_mimo.applications.schedules import WarmUpStepDecay
from keras_mimo.applications.wide_resnet import wide_resnet
from keras_mimo.applications.virtual_batch_norm import VirtualBatchNormalization

__all__ = [
    "VirtualBatchNormalization",
    "WarmUpStepDecay",
    "cifar_training",
    "wide_resnet",
]
