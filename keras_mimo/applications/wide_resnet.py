"""Wide ResNet for CIFAR-sized images, as a MIMO ensemble or a single model."""

import keras

from keras_mimo._validation import check_float
from keras_mimo._validation import check_positive_int
from keras_mimo.applications.virtual_batch_norm import VirtualBatchNormalization
from keras_mimo.layers import MIMOHead
from keras_mimo.layers import MIMOInput
from keras_mimo.layers import MixMoInput
from keras_mimo.model import MIMOModel


def _conv(filters, strides, l2, name):
    return keras.layers.Conv2D(
        filters,
        3,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=keras.regularizers.L2(l2),
        name=name,
    )


def _bn(l2, virtual_batch_size, name):
    reg = keras.regularizers.L2(l2) if l2 else None
    channels_first = keras.config.image_data_format() == "channels_first"  # as the Conv2D layers read it
    return VirtualBatchNormalization(
        virtual_batch_size,
        axis=1 if channels_first else -1,
        momentum=0.9,
        epsilon=1e-5,
        beta_regularizer=reg,
        gamma_regularizer=reg,
        name=name,
    )


def _block(x, filters, strides, l2, virtual_batch_size, name):
    """Pre-activation basic block: BN-ReLU-conv-BN-ReLU-conv + shortcut.

    The 1x1 projection shortcut (where the shape changes) takes the raw block
    input, as the reference does, not the pre-activated one.
    """
    y = keras.layers.ReLU(name=f"{name}_relu1")(_bn(l2, virtual_batch_size, f"{name}_bn1")(x))
    shortcut = x
    channels = x.shape[1] if keras.config.image_data_format() == "channels_first" else x.shape[-1]
    if strides != 1 or channels != filters:
        shortcut = keras.layers.Conv2D(
            filters,
            1,
            strides=strides,
            use_bias=False,
            kernel_initializer="he_normal",
            kernel_regularizer=keras.regularizers.L2(l2),
            name=f"{name}_shortcut",
        )(x)
    y = _conv(filters, strides, l2, f"{name}_conv1")(y)
    y = keras.layers.ReLU(name=f"{name}_relu2")(_bn(l2, virtual_batch_size, f"{name}_bn2")(y))
    y = _conv(filters, 1, l2, f"{name}_conv2")(y)
    return keras.layers.Add(name=f"{name}_add")([shortcut, y])


def wide_resnet(
    input_shape=(32, 32, 3),
    depth: int = 28,
    width_multiplier: int = 10,
    num_classes: int = 10,
    ensemble_size: int | None = 3,
    l2: float = 0.0,
    input_repetition_probability: float = 0.0,
    batch_repetitions: int = 1,
    seed: int | None = None,
    name: str | None = None,
    virtual_batch_size: int | None = None,
    head_activation: str | None = "softmax",
    mixing: str | None = None,
) -> keras.Model:
    """WRN-`depth`-`width_multiplier` (Zagoruyko & Komodakis, 2016).

    Three groups of `(depth - 4) / 6` pre-activation basic blocks with
    16, 32, 64 x `width_multiplier` filters, global average pooling and a
    dense head. With `ensemble_size` the network gets a `MIMOInput` and a
    `MIMOHead` and is returned as a `MIMOModel` (the MIMO paper's CIFAR
    backbone is WRN-28-10 with `ensemble_size=3`); with `ensemble_size=None`
    it is a plain `keras.Model` with a `Dense` head.

    Args:
        input_shape: image shape `(H, W, C)`.
        depth: int, `6 n + 4` (e.g. 10, 16, 22, 28).
        width_multiplier: int >= 1.
        num_classes: int, output classes.
        ensemble_size: members of the MIMO model, or `None` for a single model.
        l2: L2 coefficient on every kernel, bias and batch-norm parameter,
            as in the reference (`l2 * sum(w^2)`).
        input_repetition_probability, batch_repetitions, seed: `MIMOModel`
            arguments (ignored for a single model).
        name: model name.
        virtual_batch_size: int or None. With an int, every batch norm
            normalizes each group of that many consecutive rows with its own
            statistics in training (`VirtualBatchNormalization`), as the
            reference's unsynchronized batch norm does per core (64 rows);
            None normalizes over the whole batch.
        head_activation: `"softmax"` (probabilities) or None (logits: train
            with `from_logits=True`; the MIMO ensemble combines logits by
            log-mean-exp of the members' log-probabilities).
        mixing: None (MIMO's channel stacking), or `"cut"` / `"linear"`:
            MixMo, with the stem convolution as each member's encoder
            (`MixMoInput`, reference settings alpha=2, p=0.5, root 3; train
            with the `MixMoSchedule` callback). Needs `ensemble_size`.

    Returns:
        A `MIMOModel` `(N, H, W, C) -> (N, num_classes)`, or a `keras.Model`
        with the same signature. Under
        `keras.config.set_image_data_format("channels_first")` the images are
        `(N, C, H, W)` (`input_shape=(C, H, W)`) and every layer follows.

    Raises:
        ValueError / TypeError: naming the argument, for a `depth`,
            `width_multiplier`, `num_classes` or `ensemble_size` that is not
            an int >= 1 (numpy ints are accepted), a `depth` not `6 n + 4`, or
            an `l2` that is not a finite float >= 0.
    """
    depth = check_positive_int(depth, "depth")
    if (depth - 4) % 6:
        raise ValueError(f"`depth` must be 6 n + 4 (10, 16, 22, 28, ...). Received: depth={depth}")
    width_multiplier = check_positive_int(width_multiplier, "width_multiplier")
    num_classes = check_positive_int(num_classes, "num_classes")
    l2 = check_float(l2, "l2", low=0.0, low_open=False)
    blocks = (depth - 4) // 6
    inputs = keras.Input(input_shape)
    if mixing is not None:
        if ensemble_size is None:
            raise ValueError(f"wide_resnet: `mixing={mixing!r}` (MixMo) needs an `ensemble_size`.")
        x = MixMoInput(ensemble_size, _conv(16, 1, l2, "stem_conv"), mixing=mixing, seed=seed, name="mixmo_input")(
            inputs
        )
    else:
        x = inputs if ensemble_size is None else MIMOInput(ensemble_size)(inputs)
        x = _conv(16, 1, l2, "stem_conv")(x)
    for group, filters in enumerate((16, 32, 64)):
        for b in range(blocks):
            strides = 2 if group > 0 and b == 0 else 1
            x = _block(x, filters * width_multiplier, strides, l2, virtual_batch_size, f"group{group}_block{b}")
    x = keras.layers.ReLU(name="final_relu")(_bn(l2, virtual_batch_size, "final_bn")(x))
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    reg = dict(kernel_regularizer=keras.regularizers.L2(l2), bias_regularizer=keras.regularizers.L2(l2))
    tag = f"wrn{depth}_{width_multiplier}"
    if ensemble_size is None:
        outputs = keras.layers.Dense(num_classes, activation=head_activation, name="head", **reg)(x)
        return keras.Model(inputs, outputs, name=name or tag)
    outputs = MIMOHead(num_classes, ensemble_size, activation=head_activation, name="head", **reg)(x)
    return MIMOModel(
        inputs,
        outputs,
        input_repetition_probability=input_repetition_probability,
        batch_repetitions=batch_repetitions,
        seed=seed,
        name=name or f"{tag}_mimo{ensemble_size}",
    )
