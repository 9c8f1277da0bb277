"""`VirtualBatchNormalization`: batch norm with statistics per group of rows."""

import keras
from keras import ops

from keras_mimo._serialization import register
from keras_mimo._validation import check_positive_int


@register
class VirtualBatchNormalization(keras.layers.BatchNormalization):
    """Batch normalization over groups of `virtual_batch_size` consecutive rows.

    In training, each group of `virtual_batch_size` consecutive rows is
    normalized with its own mean and variance, as if each group ran on its
    own device with unsynchronized batch norm (the reference MIMO recipe
    normalizes 64 rows per TPU core). The moving statistics are updated with
    the mean over groups of the group statistics. At inference the moving
    statistics are used, exactly as in `keras.layers.BatchNormalization`.
    A training batch whose rows are not a multiple of `virtual_batch_size`
    is normalized as one group.

    Args:
        virtual_batch_size: int >= 1, rows per group, or None for plain batch
            norm over the whole batch.
        **kwargs: `keras.layers.BatchNormalization` arguments; `axis` is the
            channel axis: the last (channels last, the default) or `axis=1`
            (channels first, `(N, C, H, W)`).

    Input shape:
        `(N, ..., C)`, or `(N, C, ...)` with `axis=1`.

    Output shape:
        Same as the input.

    References:
        Hoffer et al., "Train longer, generalize better: closing the
        generalization gap in large batch training of neural networks",
        NeurIPS 2017 (ghost batch normalization).
    """

    def __init__(self, virtual_batch_size: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if virtual_batch_size is not None:
            virtual_batch_size = check_positive_int(virtual_batch_size, "virtual_batch_size")
        self.virtual_batch_size = virtual_batch_size
        if virtual_batch_size is not None and self.renorm:
            raise ValueError("VirtualBatchNormalization does not support `renorm=True`.")

    def build(self, input_shape):
        if self.virtual_batch_size is not None and self.axis % len(input_shape) not in (1, len(input_shape) - 1):
            raise ValueError(
                "VirtualBatchNormalization normalizes the channel axis: the last (channels last) or axis=1 "
                f"(channels first). Received: axis={self.axis} for input_shape={input_shape}"
            )
        super().build(input_shape)

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable) or self.virtual_batch_size is None or mask is not None:
            return super().call(inputs, training=training, mask=mask)
        rows = inputs.shape[0]
        if rows is not None:
            if rows % self.virtual_batch_size:
                return super().call(inputs, training=training)
            return self._grouped(inputs)
        # A dynamic batch size (TF graphs): choose at run time.
        divisible = ops.equal(ops.shape(inputs)[0] % self.virtual_batch_size, 0)
        return ops.cond(
            divisible,
            lambda: self._grouped(inputs),
            lambda: super(VirtualBatchNormalization, self).call(inputs, training=training),
        )

    def _grouped(self, inputs):
        x = ops.cast(inputs, "float32")
        shape = ops.shape(x)
        groups = ops.reshape(x, (-1, self.virtual_batch_size) + tuple(shape[1:]))
        channel = self.axis % len(inputs.shape) + 1  # the channel axis of `groups` (G, v, ...)
        axes = [a for a in range(1, len(groups.shape)) if a != channel]
        mean, variance = ops.moments(groups, axes=axes, keepdims=True)
        outputs = (groups - mean) * ops.rsqrt(variance + self.epsilon)
        # gamma and beta (C,) broadcast along the channel axis
        broadcast = [1] * len(groups.shape)
        broadcast[channel] = -1
        if self.scale:
            outputs = outputs * ops.reshape(ops.cast(self.gamma, "float32"), broadcast)
        if self.center:
            outputs = outputs + ops.reshape(ops.cast(self.beta, "float32"), broadcast)
        momentum = self.momentum
        channels = (-1,)
        self.moving_mean.assign(
            self.moving_mean * momentum + ops.reshape(ops.mean(mean, axis=0), channels) * (1.0 - momentum)
        )
        self.moving_variance.assign(
            self.moving_variance * momentum + ops.reshape(ops.mean(variance, axis=0), channels) * (1.0 - momentum)
        )
        return ops.cast(ops.reshape(outputs, shape), self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "virtual_batch_size": self.virtual_batch_size}
