"""`MixMoInput`: one encoder per member, their features mixed (MixMo, Ramé et al., ICCV 2021)."""

import keras
from keras import ops

from keras_mimo import _forward_pass
from keras_mimo import mixing as mixing_ops
from keras_mimo._serialization import register
from keras_mimo._validation import check_positive_finite
from keras_mimo._validation import check_positive_int
from keras_mimo._validation import check_probability
from keras_mimo._validation import check_seed
from keras_mimo.layers.mimo_input import MIMOInput


@register
class MixMoInput(MIMOInput):
    """Encodes each member's input with its own encoder and mixes the features.

    Replaces `MIMOInput` (channel stacking) with MixMo's mixing: member `m`'s
    rows go through encoder `m` (e.g. the backbone's first convolution), and
    the shared trunk sees `M * sum_m mask_m * f_m` (`keras_mimo.mixing`).
    In training each batch is cut-mixed with probability `cut_probability`
    (`mixing="cut"`), else linearly mixed; `MixMoSchedule` anneals the
    probability to 0 over the end of training as the reference does. At
    inference the trunk sees `sum_m f_m`. Each member's loss is weighted by
    its mixing ratio (`weight_root`), applied by `MIMOModel`'s loss.

    Args:
        ensemble_size: int, `M` (2 in the reference; `M > 2` cuts one member's
            box and mixes the others linearly in the rest, as the reference's
            "CutMix(A, MixUp(B, C, ...))").
        encoder: a layer (each member gets a fresh copy from its config), a
            list of `M` distinct layers (member `m` gets `encoder[m]`; each
            is saved with the model), or a callable returning a new layer.
        mixing: `"cut"` (Cut-MixMo) or `"linear"` (Linear-MixMo).
        alpha: Dirichlet / Beta concentration of the mixing ratios, > 0 (2).
        cut_probability: probability of cut mixing per batch, in [0, 1] (0.5).
        weight_root: the loss reweighting root, > 0 (3).
        seed: int or None, seed of the mixing draws.
        data_format: the layout of the encoders' feature maps,
            `"channels_last"` `(h, w, c)` or `"channels_first"` `(c, h, w)`:
            the cut box spans `(h, w)` and the masks broadcast over `c`.
            None (the default): the encoders' own `data_format` (the last
            layer in an encoder that has one, e.g. its `Conv2D`), else
            `keras.config.image_data_format()`.
        **kwargs: base layer arguments (`name`, `dtype`). Under a mixed dtype
            policy the ratios and masks are float32 and cast to the
            features' dtype for the mixing; the loss weights stay float32.

    Input shape: `(N * M, H, W, C)` stacked rows (`(N * M, C, H, W)` for
    channels-first encoders). Output shape: the encoder's `(N, h, w, c)`
    (`(N, c, h, w)`).
    """

    def __init__(
        self,
        ensemble_size: int,
        encoder,
        mixing: str = "cut",
        alpha: float = 2.0,
        cut_probability: float = 0.5,
        weight_root: float = 3.0,
        seed: int | None = None,
        data_format: str | None = None,
        **kwargs,
    ):
        super().__init__(ensemble_size, **kwargs)
        self.supports_masking = False
        if mixing not in mixing_ops.MIXINGS:
            raise ValueError(f"MixMoInput: `mixing` must be one of {mixing_ops.MIXINGS}. Received: mixing={mixing!r}")
        self.mixing = mixing
        self.alpha = check_positive_finite(alpha, "alpha")
        self.cut_probability = check_probability(cut_probability, "cut_probability")
        self.weight_root = check_positive_finite(weight_root, "weight_root")
        self.seed = check_seed(seed)  # a numpy int as an int (SeedGenerator refuses numpy ints)
        if data_format is not None:
            mixing_ops.check_data_format(data_format)
        self.encoders = self._make_encoders(encoder)
        self.data_format = data_format or self._encoders_data_format()
        self._seed_generator = keras.random.SeedGenerator(self.seed, name="mixmo_seed")

    def _make_encoders(self, encoder) -> list:
        if isinstance(encoder, (list, tuple)):
            # a list of layers, or of serialized layers (every member's, as get_config writes them)
            encoders = [keras.saving.deserialize_keras_object(e) if isinstance(e, dict) else e for e in encoder]
            if len(encoders) != self.ensemble_size or not all(isinstance(e, keras.layers.Layer) for e in encoders):
                raise ValueError(
                    f"MixMoInput: `encoder` as a list must hold {self.ensemble_size} layers (one per member). "
                    f"Received: encoder={encoder!r}"
                )
            if len({id(e) for e in encoders}) != len(encoders):
                raise ValueError(
                    "MixMoInput: `encoder` as a list must hold a distinct layer per member (one layer object "
                    f"twice would be one encoder). Received: encoder={encoder!r}"
                )
            return encoders
        if isinstance(encoder, dict):  # a serialized template (configs of keras-mimo <= 0.1.0)
            encoder = keras.saving.deserialize_keras_object(encoder)
        if isinstance(encoder, keras.layers.Layer):
            config = {k: v for k, v in encoder.get_config().items() if k != "name"}
            return [
                type(encoder).from_config({**config, "name": f"{self.name}_encoder_{m}"})
                for m in range(self.ensemble_size)
            ]
        if callable(encoder):
            encoders = [encoder() for _ in range(self.ensemble_size)]
            if not all(isinstance(e, keras.layers.Layer) for e in encoders):
                raise TypeError(
                    f"MixMoInput: `encoder` as a callable must return a new layer. Received: encoder={encoder!r} "
                    f"returning {encoders[0]!r}"
                )
            return encoders
        raise TypeError(
            f"MixMoInput: `encoder` must be a layer, a list of layers or a callable. Received: encoder={encoder!r}"
        )

    def _encoders_data_format(self) -> str:
        formats = {_data_format_of(e) for e in self.encoders} - {None}
        if len(formats) > 1:
            raise ValueError(
                f"MixMoInput: the members' encoders have different data formats {sorted(formats)}; their features "
                "must share one layout. Received: encoder=" + repr(self.encoders)
            )
        return formats.pop() if formats else keras.config.image_data_format()

    def _spatial_axes(self) -> tuple:
        """The axes `(h, w)` of a feature map without its batch axis."""
        return (0, 1) if self.data_format == "channels_last" else (1, 2)

    def build(self, input_shape):
        self._check_batch(input_shape[0])
        member_shape = (None,) + tuple(input_shape[1:])
        shapes = []
        for encoder in self.encoders:
            if not encoder.built:
                encoder.build(member_shape)
            shapes.append(tuple(encoder.compute_output_shape(member_shape))[1:])
        if len(set(shapes)) > 1:
            raise ValueError(
                f"MixMoInput: every member's `encoder` must give the same output shape. Received: {shapes}"
            )
        layout = "(h, w, c)" if self.data_format == "channels_last" else "(c, h, w)"
        if len(shapes[0]) != 3:
            raise ValueError(
                f"MixMoInput mixes feature maps {layout} (data_format={self.data_format!r}): the encoder outputs "
                f"{shapes[0]}."
            )
        height, width = (shapes[0][axis] for axis in self._spatial_axes())
        if self.mixing == "cut" and (height is None or width is None or height < 2 or width < 2):
            raise ValueError(
                f"MixMoInput: mixing='cut' needs feature maps of at least 2 x 2 to cut a box from; the encoder "
                f"gives {height} x {width} (h x w of {layout}, data_format={self.data_format!r}). Use "
                "mixing='linear' or an encoder that keeps the spatial size."
            )
        self._current_cut_probability = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(self.cut_probability),
            trainable=False,
            name="current_cut_probability",
        )
        self.built = True

    def set_cut_probability(self, value: float):
        """Sets this training step's cut probability (`MixMoSchedule` calls it each epoch)."""
        self._current_cut_probability.assign(check_probability(value, "cut_probability"))

    def call(self, inputs, training=None, mimo_pass=None):
        _forward_pass.check_called_by_mimo_model(self, mimo_pass)
        shape = ops.shape(inputs)
        members = ops.reshape(inputs, (-1, self.ensemble_size) + tuple(shape[1:]))
        features = ops.stack([enc(members[:, m]) for m, enc in enumerate(self.encoders)], axis=1)  # (N, M, ...)
        if not training:
            return ops.sum(features, axis=1)  # M * mean: the reference's test-time rule
        batch = ops.shape(features)[0]
        height, width = (features.shape[2 + axis] for axis in self._spatial_axes())
        # ratios, masks and loss weights in float32; `mix` casts the masks to the features' dtype
        ratios = mixing_ops.sample_ratios(batch, self.ensemble_size, self.alpha, self._seed_generator)
        masks = mixing_ops.linear_masks(ratios, height, width, self.data_format)
        if self.mixing == "cut":
            draw = keras.random.uniform((2,), dtype="float32", seed=self._seed_generator)
            boxed = ops.minimum(ops.cast(ops.floor(draw[1] * self.ensemble_size), "int32"), self.ensemble_size - 1)
            cut = mixing_ops.cut_masks(ratios, height, width, boxed, self._seed_generator, self.data_format)
            masks = ops.where(draw[0] < ops.cast(self._current_cut_probability, "float32"), cut, masks)
        if mimo_pass is not None:  # the model hands them to its loss with its outputs
            mimo_pass.record_loss_weights(mixing_ops.loss_weights(masks, self.weight_root))
        return mixing_ops.mix(features, masks)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        self._check_batch(input_shape[0])
        batch = input_shape[0]
        out = tuple(self.encoders[0].compute_output_shape((None,) + tuple(input_shape[1:])))
        return (None if batch is None else batch // self.ensemble_size,) + out[1:]

    def get_config(self):
        return {
            **super().get_config(),
            # every member's encoder, unbuilt (they may differ: a list of layers)
            "encoder": [
                keras.saving.serialize_keras_object(type(e).from_config(e.get_config())) for e in self.encoders
            ],
            "mixing": self.mixing,
            "alpha": self.alpha,
            "cut_probability": self.cut_probability,
            "weight_root": self.weight_root,
            "seed": self.seed,
            "data_format": self.data_format,
        }


def _data_format_of(layer):
    """The `data_format` of `layer`'s output: its own, or its last sublayer's that has one; None if none says."""
    data_format = getattr(layer, "data_format", None)
    if data_format in mixing_ops.DATA_FORMATS:
        return data_format
    for sublayer in reversed(getattr(layer, "layers", None) or []):  # a Sequential or functional encoder
        data_format = _data_format_of(sublayer)
        if data_format is not None:
            return data_format
    return None


class MixMoSchedule(keras.callbacks.Callback):
    """Anneals every `MixMoInput`'s cut probability as the reference does.

    `p` until `decrease_from` of the epochs, then linearly down to 0 at the
    end: `p * max(0, (1 - t) / (1 - decrease_from))`, `t = epoch / epochs`
    (the reference: 11/12 of training).
    """

    def __init__(self, epochs: int, decrease_from: float = 11 / 12):
        super().__init__()
        self.epochs = check_positive_int(epochs, "epochs")
        self.decrease_from = check_probability(decrease_from, "decrease_from")

    def probability(self, p: float, epoch: int) -> float:
        t = epoch / self.epochs
        if t < self.decrease_from:
            return p
        return p * max(0.0, (1.0 - t) / max(1.0 - self.decrease_from, 1e-12))

    def on_epoch_begin(self, epoch, logs=None):
        for layer in _mixing_layers(self.model):
            layer.set_cut_probability(self.probability(layer.cut_probability, epoch))


def _mixing_layers(model):
    for layer in getattr(model, "layers", ()):
        if isinstance(layer, MixMoInput):
            yield layer
        yield from _mixing_layers(layer)
