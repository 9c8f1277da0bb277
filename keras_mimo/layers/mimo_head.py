"""`MIMOHead`: one dense layer giving every member its own prediction."""

import keras
from keras import ops

from keras_mimo import _forward_pass
from keras_mimo import _keras_compat
from keras_mimo._serialization import register
from keras_mimo._validation import check_ensemble_size
from keras_mimo._validation import check_positive_int
from keras_mimo.ensembles.methods import check_ensemble_method
from keras_mimo.ensembles.methods import combine_members
from keras_mimo.ensembles.methods import default_ensemble_method
from keras_mimo.ensembles.methods import gaussian_parameters


@register
class MIMOHead(keras.layers.Layer):
    """The members' output heads: a dense layer with `ensemble_size * units`.

    The second of the two layers that make a MIMO network: it replaces the
    backbone's final `Dense(units)`. It computes one dense layer with
    `ensemble_size * units` outputs, splits them into the members'
    predictions and applies `activation` to each member in float32 (also under
    a mixed-precision policy). Its output is example-major stacked rows, the
    layout `MIMOModel` trains on; `MIMOModel` combines them into the
    ensemble output with `ensemble_method` at inference.

    Args:
        units: int, output units of each member (e.g. the number of classes).
        ensemble_size: int, the number of members `M`.
        activation: activation applied to each member's output. `None` means
            the head emits logits (use a loss with `from_logits=True`).
        ensemble_method: how members combine at inference, one of
            `"mean"` (mean of the outputs: probabilities or regression),
            `"softmax_logits"` (logits whose softmax is the mean member
            probability), `"sigmoid_logits"` (logits whose sigmoid is the
            mean member probability) or `"gaussian"` (probabilistic
            regression: each member outputs a mean and a standard deviation
            per unit, `[means, stds]`, stds `softplus + 1e-6`; the ensemble is
            the moment-matched Gaussian of the members' mixture; train with
            `keras_mimo.losses.GaussianNLL()`; no activation). Defaults to
            `None`: `"mean"` for softmax,
            sigmoid and other activations, `"softmax_logits"` for no activation
            with `units > 1` or log-softmax; a one-unit head without
            activation must choose.
        use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer, kernel_constraint, bias_constraint: as in
            `keras.layers.Dense`.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`).

    Input shape:
        `(N, ..., features)`.

    Output shape:
        `(N * M, ..., units)`: example-major stacked rows, float32
        (`2 * units` for `"gaussian"`: means then standard deviations).

    Example:

    ```python
    x = keras.layers.GlobalAveragePooling2D()(features)
    outputs = keras_mimo.MIMOHead(10, ensemble_size=3, activation="softmax")(x)
    ```

    References:
        Havasi et al., "Training independent subnetworks for robust
        prediction", ICLR 2021.
    """

    def __init__(
        self,
        units: int,
        ensemble_size: int,
        activation=None,
        ensemble_method: str | None = None,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.units = check_positive_int(units, "units")
        self.ensemble_size = check_ensemble_size(ensemble_size)
        self.activation = keras.activations.get(activation)
        if ensemble_method is None:
            ensemble_method = default_ensemble_method(self.activation, self.units)
        self.ensemble_method = check_ensemble_method(ensemble_method)
        if self.ensemble_method == "gaussian" and activation not in (None, "linear"):
            raise ValueError(
                "A MIMOHead with ensemble_method='gaussian' outputs means and "
                "standard deviations itself: leave `activation` unset. "
                f"Received: activation={activation!r}"
            )
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(f"MIMOHead needs a known last (feature) dimension. Received: input_shape={input_shape}")
        self.dense = keras.layers.Dense(
            self.ensemble_size * self.output_units,
            use_bias=self.use_bias,
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            kernel_regularizer=self.kernel_regularizer,
            bias_regularizer=self.bias_regularizer,
            kernel_constraint=self.kernel_constraint,
            bias_constraint=self.bias_constraint,
            dtype=self.dtype_policy,
            name="dense",
        )
        self.dense.build(input_shape)

    def call(self, inputs, mimo_pass=None):
        _forward_pass.check_called_by_mimo_model(self, mimo_pass)
        outputs = self._member_outputs(inputs)
        # the input's Keras mask, read at run time (a `mask` argument would put it in the saved graph)
        mask = _keras_compat.get_mask(inputs)
        if mask is not None and mimo_pass is not None:
            # each member's rows masked by its own input's mask (Keras then skips compute_mask)
            _keras_compat.set_mask(outputs, self._member_mask(mask, mimo_pass.input_masks))
        return outputs

    def _member_outputs(self, inputs):
        outputs = ops.cast(self.dense(inputs), "float32")
        shape = ops.shape(outputs)
        rank = len(outputs.shape)
        outputs = ops.reshape(outputs, tuple(shape[:-1]) + (self.ensemble_size, self.output_units))
        # (N, ..., M, units) -> (N, M, ..., units) -> (N * M, ..., units).
        outputs = ops.moveaxis(outputs, rank - 1, 1)
        outputs = ops.reshape(outputs, (-1,) + tuple(shape[1:-1]) + (self.output_units,))
        if self.ensemble_method == "gaussian":
            return gaussian_parameters(outputs)
        return self.activation(outputs)

    def compute_mask(self, inputs, mask=None):
        """The mask of a call without a MIMOModel's forward pass: the input mask, repeated per member."""
        return None if mask is None else self._member_mask(mask, [])

    def _member_mask(self, mask, input_masks):
        """Each member's own mask, stacked: `(N * M, ...)`.

        The mask reaching the head is the members' OR (`MIMOInput`); each
        member's rows are masked by its own input's mask, recorded by the
        MIMOInputs of this forward pass (OR over several inputs with masks
        of the head's shape). Without a record the input mask is repeated.
        """
        rank = len(mask.shape)
        own = [m for m in input_masks if len(m.shape) == rank and m.shape[1:] == mask.shape[1:]]
        if not own:
            return ops.repeat(mask, self.ensemble_size, axis=0)
        combined = ops.cast(own[0], "bool")
        for member_mask in own[1:]:
            combined = ops.logical_or(combined, ops.cast(member_mask, "bool"))
        return combined

    def combine(self, members):
        """Ensemble output from members `(M, N, ..., units)`: `(N, ..., units)`."""
        return combine_members(members, self.ensemble_method, axis=0)

    @property
    def output_units(self) -> int:
        """Outputs per member: `units`, or `2 * units` (means, stds) for "gaussian"."""
        return 2 * self.units if self.ensemble_method == "gaussian" else self.units

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        return (
            None if batch is None else batch * self.ensemble_size,
            *input_shape[1:-1],
            self.output_units,
        )

    def compute_output_spec(self, inputs, mimo_pass=None):
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "ensemble_size": self.ensemble_size,
                "activation": keras.activations.serialize(self.activation),
                "ensemble_method": self.ensemble_method,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            }
        )
        return config
