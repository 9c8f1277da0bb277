"""`MIMOInput`: the members' inputs, concatenated along channels."""

import keras
from keras import ops

from keras_mimo import _forward_pass
from keras_mimo import _keras_compat
from keras_mimo._serialization import register
from keras_mimo._validation import check_ensemble_size

DATA_FORMATS = ("channels_last", "channels_first")


@register
class MIMOInput(keras.layers.Layer):
    """Concatenates the inputs of `ensemble_size` members along channels.

    The first of the two layers that make a MIMO network: put it right after
    the model's input. It receives the members' inputs stacked example-major
    on the batch axis (row `n * M + m` is member `m`'s `n`-th row) and
    concatenates them along the last (channel) axis, so the backbone's first
    layer sees `ensemble_size` times the channels and everything after it is
    shared. `MIMOModel` builds the stacked rows: during training each member
    gets its own shuffled examples; at inference every member gets the same
    input. Channel `m * C + c` of the output is channel `c` of member `m`.

    Args:
        ensemble_size: int, the number of members `M`.
        data_format: where the channels are: `"channels_last"` `(..., C)` or
            `"channels_first"` `(C, ...)` (e.g. images `(C, H, W)` for a
            channels-first `Conv2D`). None (the default): for images and
            volumes (inputs of rank >= 4 with the batch axis)
            `keras.config.image_data_format()`, as Keras's own image layers
            read it; the last axis for features and sequences. Resolved when
            the layer is built (and saved so).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`).

    Input shape:
        `(N * M, ..., C)`: example-major stacked rows (`(N * M, C, ...)`
        channels first).

    Output shape:
        `(N, ..., M * C)` (`(N, M * C, ...)` channels first).

    Masking:
        Supported (e.g. after `Embedding(mask_zero=True)`): the output mask is
        the logical OR of the members' masks, see `compute_mask`.

    Example:

    ```python
    inputs = keras.Input((32, 32, 3))
    x = keras_mimo.MIMOInput(ensemble_size=3)(inputs)  # (None, 32, 32, 9)
    ```

    References:
        Havasi et al., "Training independent subnetworks for robust
        prediction", ICLR 2021.
    """

    def __init__(self, ensemble_size: int, data_format: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.ensemble_size = check_ensemble_size(ensemble_size)
        if data_format is not None and data_format not in DATA_FORMATS:
            raise ValueError(
                f"MIMOInput: `data_format` must be one of {DATA_FORMATS} or None. Received: data_format={data_format!r}"
            )
        self.data_format = data_format
        self.supports_masking = True

    def _data_format(self, rank: int) -> str:
        """`data_format`, or for None the default for inputs of `rank` (with the batch axis)."""
        if self.data_format is not None:
            return self.data_format
        return keras.config.image_data_format() if rank >= 4 else "channels_last"

    def _channel_axis(self, rank: int) -> int:
        """The channel axis of inputs of `rank` (with the batch axis)."""
        return 1 if self._data_format(rank) == "channels_first" else rank - 1

    def build(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(
                "MIMOInput expects inputs of shape (batch, ..., channels) "
                f"with rank >= 2. Received: input_shape={input_shape}"
            )
        self._check_batch(input_shape[0])
        self.data_format = self._data_format(len(input_shape))

    def _check_batch(self, batch):
        if batch is not None and batch % self.ensemble_size:
            raise ValueError(
                "MIMOInput expects example-major stacked rows: `inputs` with a batch "
                f"dimension divisible by ensemble_size={self.ensemble_size}. "
                f"Received: batch dimension {batch}"
            )

    def call(self, inputs, mimo_pass=None):
        _forward_pass.check_called_by_mimo_model(self, mimo_pass)
        # the input's Keras mask, read at run time (a `mask` argument would put it in the saved graph)
        mask = _keras_compat.get_mask(inputs)
        if mask is not None and mimo_pass is not None:
            mimo_pass.record_input_mask(mask)  # the heads give each member its own mask back
        shape = ops.shape(inputs)
        rank = len(inputs.shape)
        members = ops.reshape(inputs, (-1, self.ensemble_size) + tuple(shape[1:]))
        if self._channel_axis(rank) == 1 and rank > 2:
            # (N, M, C, ...): the members already precede the channels.
            return ops.reshape(members, (-1, self.ensemble_size * shape[1]) + tuple(shape[2:]))
        # (N, M, ..., C) -> (N, ..., M, C): members next to the channels.
        members = ops.moveaxis(members, 1, rank - 1)
        return ops.reshape(members, (-1,) + tuple(shape[1:-1]) + (self.ensemble_size * shape[-1],))

    def compute_mask(self, inputs, mask=None):
        """The members' masks `(N * M, ...)` combined by logical OR: `(N, ...)`.

        A position is valid where any member's input is valid there: the
        shared trunk sees every member's features at that position, and
        masking it out would hide a member's real input. At inference all
        members see the same input, so the mask is the input's own.
        """
        if mask is None:
            return None
        members = MemberRows(self.ensemble_size)(ops.cast(mask, "bool"))
        combined = members[0]
        for member in members[1:]:
            combined = ops.logical_or(combined, member)
        return combined

    def compute_output_shape(self, input_shape):
        self._check_batch(input_shape[0])
        batch = input_shape[0]
        shape = [None if batch is None else batch // self.ensemble_size, *input_shape[1:]]
        axis = self._channel_axis(len(shape))
        shape[axis] = None if shape[axis] is None else shape[axis] * self.ensemble_size
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config.update({"ensemble_size": self.ensemble_size, "data_format": self.data_format})
        return config


@register
class MemberRows(keras.Operation):
    """Splits example-major stacked rows `(N * M, ...)` into the members' `M x (N, ...)`.

    Member `m`'s rows are `[m::M]`. An operation (not a function) so that a
    functional graph that records it (a mask passed on to a layer's call)
    computes the same rows when it runs and after saving.
    """

    def __init__(self, ensemble_size: int, name=None):
        super().__init__(name=name)
        self.ensemble_size = check_ensemble_size(ensemble_size)

    def call(self, stacked):
        return [stacked[m :: self.ensemble_size] for m in range(self.ensemble_size)]

    def compute_output_spec(self, stacked):
        batch = stacked.shape[0]
        shape = (None if batch is None else batch // self.ensemble_size,) + tuple(stacked.shape[1:])
        return [keras.KerasTensor(shape, dtype=stacked.dtype) for _ in range(self.ensemble_size)]

    def get_config(self):
        return {"ensemble_size": self.ensemble_size, "name": self.name}
