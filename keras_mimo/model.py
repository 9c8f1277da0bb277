"""`MIMOModel`: a functional Keras model trained as a MIMO ensemble."""

import keras
from keras import ops

from keras_mimo import _layout
from keras_mimo._serialization import register
from keras_mimo._validation import check_positive_int
from keras_mimo._validation import check_probability
from keras_mimo.batching import merge_members
from keras_mimo.batching import mimo_batch_indices
from keras_mimo.batching import split_members
from keras_mimo.batching import stack_members
from keras_mimo.batching import tile_members
from keras_mimo.layers import MIMOHead
from keras_mimo.layers import MIMOInput


def _all_layers(model):
    """Every layer of `model`, nested models included, depth first."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def _tf_replica_id():
    """This replica's id under a multi-replica tf.distribute strategy, else None."""
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context.replica_id_in_sync_group


def _single(layers, cls_name):
    if len(layers) != 1:
        raise ValueError(
            f"MIMOModel needs exactly one {cls_name} layer in the graph: put "
            f"`keras_mimo.{cls_name}(ensemble_size)` "
            + (
                "right after the input."
                if cls_name == "MIMOInput"
                else "in place of the final Dense layer."
            )
            + f" Found {len(layers)}: {[layer.name for layer in layers]}"
        )
    return layers[0]


def _map_tensors(fn, structure):
    return keras.tree.map_structure(
        lambda t: None if t is None else fn(t), structure
    )


@register
class MIMOModel(keras.Model):
    """A functional model with a `MIMOInput` and a `MIMOHead`, trained as MIMO.

    Build it like a functional `keras.Model` from a graph that contains one
    `MIMOInput` (after the input) and ends in one `MIMOHead`. The model keeps
    the input shape of the original network:

    - `fit` (via `train_step`) forms every batch as the reference MIMO
      recipe does: each of the `B` unique examples is repeated
      `batch_repetitions` times, the rows are shuffled once, and the first
      `1 - input_repetition_probability` fraction of rows is reshuffled
      independently for each member. Inputs, labels and sample weights are
      gathered with the same indices. Each member's loss is the compiled loss
      on its own labels, and the members' losses are *summed*, as in the
      reference. Training metrics are computed over all members' rows, so
      they report the mean member; `evaluate` scores the ensemble.
    - `model(x)`, `predict`, `evaluate` and validation feed the same input to
      every member in one forward pass and return the ensemble output,
      combined by the head's `ensemble_method` (mean probability for a
      softmax head).
    - `predict_members(x)` returns each member's prediction.

    Args:
        *args, **kwargs: `inputs`, `outputs` and other arguments of a
            functional `keras.Model`.
        input_repetition_probability: float in [0, 1], `rho`: the fraction of
            each training batch's rows that all members share. 0.0 (the
            default, the CIFAR recipe) gives fully independent members.
        batch_repetitions: int >= 1, copies of each unique example in a
            training batch, so a step trains on `batch_repetitions * B` rows
            per member (4 in the CIFAR recipe).
        seed: int or None, seed of the batch shuffling. The shuffling state
            is a model variable: it is saved and restored with the model.

    Example:

    ```python
    inputs = keras.Input((32, 32, 3))
    x = keras_mimo.MIMOInput(ensemble_size=3)(inputs)
    x = keras.layers.Conv2D(32, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras_mimo.MIMOHead(10, ensemble_size=3, activation="softmax")(x)
    model = keras_mimo.MIMOModel(inputs, outputs, batch_repetitions=4)
    ```

    References:
        Havasi et al., "Training independent subnetworks for robust
        prediction", ICLR 2021.
    """

    def __init__(
        self,
        *args,
        input_repetition_probability: float = 0.0,
        batch_repetitions: int = 1,
        seed: int | None = None,
        **kwargs,
    ):
        if len(args) < 2 and not {"inputs", "outputs"} & set(kwargs):
            raise TypeError(
                "MIMOModel must be built from a functional graph: "
                "MIMOModel(inputs, outputs, ...). Subclassed models are not "
                "supported."
            )
        super().__init__(*args, **kwargs)
        self.input_repetition_probability = check_probability(
            input_repetition_probability, "input_repetition_probability"
        )
        self.batch_repetitions = check_positive_int(
            batch_repetitions, "batch_repetitions"
        )
        if seed is not None and not isinstance(seed, int):
            raise TypeError(f"`seed` must be an int or None. Received: seed={seed!r}")
        self.seed = seed
        self._check_graph()
        self._batch_seed_generator = keras.random.SeedGenerator(
            seed, name="mimo_batch_seed"
        )
        # predict_members() runs through its own predict functions, one per
        # input form (with or without a member axis, or unknown for
        # datasets), so neither form's trace is reused for the other.
        self._predicting_members = False
        self._members_predict_functions = {}

    def _check_graph(self):
        layers = list(_all_layers(self))
        mimo_input = _single([l for l in layers if isinstance(l, MIMOInput)], "MIMOInput")
        head = _single([l for l in layers if isinstance(l, MIMOHead)], "MIMOHead")
        if mimo_input.ensemble_size != head.ensemble_size:
            raise ValueError(
                "MIMOInput and MIMOHead must have the same ensemble_size. "
                f"Received: MIMOInput(ensemble_size={mimo_input.ensemble_size}) "
                f"and MIMOHead(ensemble_size={head.ensemble_size})"
            )
        if len(self.inputs) != 1:
            raise ValueError(
                "MIMOModel supports models with a single input tensor. "
                f"Received {len(self.inputs)} inputs."
            )
        if len(self.outputs) != 1 or self.outputs[0] is not head.output:
            raise ValueError(
                "The MIMOHead's output must be the model's only output (the "
                "ensemble is combined from it). Received outputs: "
                f"{self.outputs}"
            )
        self._mimo_input = mimo_input
        self._mimo_head = head

    @property
    def ensemble_size(self) -> int:
        """The number of ensemble members `M` (read-only)."""
        return self._mimo_head.ensemble_size

    # -- forward pass ------------------------------------------------------

    def call(self, inputs, training=None, mask=None):
        if _layout.in_stacked_rows(self):
            return super().call(inputs, training=training, mask=mask)
        self._check_input_shape(keras.tree.flatten(inputs)[0].shape)
        stacked = _map_tensors(lambda t: tile_members(t, self.ensemble_size), inputs)
        members = super().call(stacked, training=training, mask=mask)
        return self._mimo_head.combine(split_members(members, self.ensemble_size))

    def _fits_input_shape(self, dims) -> bool:
        """Whether per-example `dims` match the model's input shape (None matches)."""
        expected = tuple(self.inputs[0].shape[1:])
        return len(dims) == len(expected) and all(
            e is None or d is None or e == d for e, d in zip(expected, dims)
        )

    def _check_input_shape(self, shape):
        if not self._fits_input_shape(tuple(shape[1:])):
            expected = tuple(self.inputs[0].shape)
            raise ValueError(
                f"MIMOModel {self.name!r} expected inputs of shape {expected}, "
                f"the shape it was built with. Received: shape {tuple(shape)}"
            )

    def compute_output_spec(self, inputs, training=None, mask=None):
        spec = super().compute_output_spec(inputs, training=training, mask=mask)
        if _layout.in_stacked_rows(self):
            return spec
        batch = keras.tree.flatten(inputs)[0].shape[0]
        return keras.KerasTensor((batch,) + tuple(spec.shape[1:]), dtype=spec.dtype)

    # -- training ----------------------------------------------------------

    def form_training_batch(self, data):
        """The stacked MIMO batch `(M * b * B, ...)` built from a data batch.

        Args:
            data: `x`, `(x, y)` or `(x, y, sample_weight)` with `B` rows.

        Returns:
            The same structure with every member's rows stacked member-major.
        """
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        batch_size = ops.shape(keras.tree.flatten(x)[0])[0]
        indices = mimo_batch_indices(
            batch_size,
            self.ensemble_size,
            self.input_repetition_probability,
            self.batch_repetitions,
            seed=self._step_seed(),
        )
        x, y, sample_weight = stack_members((x, y, sample_weight), indices)
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    def _step_seed(self):
        """The shuffling seed of this step: the model's seed generator.

        Under a `tf.distribute` strategy all replicas read the same mirrored
        seed state; the replica id is folded in so that each replica draws its
        own permutations of its own shard, as the reference does per core.
        """
        replica_id = _tf_replica_id() if keras.backend.backend() == "tensorflow" else None
        if replica_id is None:
            return self._batch_seed_generator
        seed = self._batch_seed_generator.next()
        offset = ops.cast(ops.stack([0, replica_id]), seed.dtype)
        return seed + offset

    def train_step(self, *args):
        if keras.backend.backend() == "jax":
            return self._jax_train_step(*args)
        (data,) = args
        data = self.form_training_batch(data)
        with _layout.stacked_rows(self):
            return super().train_step(data)

    def _jax_train_step(self, state, data):
        # JAX runs `train_step` as a pure function of `state`: the shuffling
        # draws from the seed generator's state inside a StatelessScope and
        # hands the advanced state on to Keras's own train_step.
        trainable, non_trainable, optimizer_vars, metrics_vars = state
        mapping = list(zip(self.non_trainable_variables, non_trainable))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            data = self.form_training_batch(data)
            non_trainable = [
                scope.get_current_value(v) for v in self.non_trainable_variables
            ]
        state = (trainable, non_trainable, optimizer_vars, metrics_vars)
        with _layout.stacked_rows(self):
            return super().train_step(state, data)

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        """The compiled loss; during training, summed over the members.

        On stacked training rows the compiled loss is evaluated on each
        member's rows and the results are summed (a mean over all stacked
        rows would be `ensemble_size` times smaller). Regularization losses
        are added once.
        """
        if not _layout.in_stacked_rows(self):
            return super().compute_loss(x, y, y_pred, sample_weight, training)
        members = [
            _map_tensors(lambda t: split_members(t, self.ensemble_size), s)
            for s in (y, y_pred, sample_weight)
        ]

        def member(m):
            return [_map_tensors(lambda t: t[m], s) for s in members]

        # Member 0 goes through Keras's own compute_loss, which also adds the
        # model's regularization losses; the other members add their loss.
        total = super().compute_loss(x, *member(0), training)
        if self._compile_loss is not None:
            for m in range(1, self.ensemble_size):
                loss = self._compile_loss(*member(m))
                if loss is not None:
                    total = total + loss
        return total

    # -- per-member prediction ---------------------------------------------

    def predict_members(
        self, x, batch_size=None, verbose="auto", steps=None, callbacks=None
    ):
        """Each member's prediction, in one forward pass per batch.

        Args:
            x: inputs of shape `(N, *input_shape)`, fed to every member, or
                `(N, ensemble_size, *input_shape)`, where member `m` sees
                `x[:, m]`. Any input `predict` accepts (arrays, datasets,
                `PyDataset`).
            batch_size, verbose, steps, callbacks: as in `predict`.

        Returns:
            Array of shape `(N, ensemble_size, *output_shape)`.
        """
        shape = getattr(x, "shape", None)
        form = None if shape is None else self._has_member_axis(shape)
        default_function = self.predict_function
        self.predict_function = self._members_predict_functions.get(form)
        self._predicting_members = True
        try:
            return self.predict(
                x, batch_size=batch_size, verbose=verbose, steps=steps,
                callbacks=callbacks,
            )
        finally:
            self._members_predict_functions[form] = self.predict_function
            self.predict_function = default_function
            self._predicting_members = False

    def _has_member_axis(self, shape) -> bool:
        """True if `shape` has a member axis; raises if it fits neither form."""
        if self._fits_input_shape(tuple(shape[1:])):
            return False
        if (
            len(shape) > 1
            and shape[1] == self.ensemble_size
            and self._fits_input_shape(tuple(shape[2:]))
        ):
            return True
        expected = tuple(self.inputs[0].shape[1:])
        raise ValueError(
            "predict_members expects inputs of shape (N, *input_shape) = "
            f"(N, {', '.join(map(str, expected))}) or (N, ensemble_size, "
            f"*input_shape) = (N, {self.ensemble_size}, "
            f"{', '.join(map(str, expected))}). Received: shape {tuple(shape)}"
        )

    def call_members(self, inputs, training=False):
        """Each member's output in one forward pass: `(N, ensemble_size, ...)`.

        A traceable counterpart of `predict_members` (usable inside
        `tf.function`, `jax.jit` and exported signatures).

        Args:
            inputs: `(N, *input_shape)` (every member sees the same input) or
                `(N, ensemble_size, *input_shape)` (member `m` sees
                `inputs[:, m]`).
            training: forwarded to the layers.
        """
        with _layout.stacked_rows(self):
            return self._members_last(self(self._stack_inputs(inputs), training=training))

    def _stack_inputs(self, inputs):
        """`(N, ...)` tiled, or `(N, M, ...)` re-laid, to stacked rows `(M * N, ...)`."""
        x = keras.tree.flatten(inputs)[0]
        if self._has_member_axis(x.shape):
            return merge_members(ops.moveaxis(x, 1, 0))
        return tile_members(x, self.ensemble_size)

    def predict_step(self, *args):
        if not self._predicting_members:
            return super().predict_step(*args)
        *state, data = args
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        with _layout.stacked_rows(self):
            result = super().predict_step(*state, (self._stack_inputs(x),))
        if keras.backend.backend() == "jax":
            outputs, non_trainable = result
            return self._members_last(outputs), non_trainable
        return self._members_last(result)

    def _members_last(self, stacked):
        """Stacked outputs `(M * N, ...)` to `(N, M, ...)`."""
        return ops.moveaxis(split_members(stacked, self.ensemble_size), 0, 1)

    # -- export --------------------------------------------------------------

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs):
        """Exports for serving; a SavedModel gets two endpoints.

        With `format="tf_saved_model"` (TensorFlow or JAX backend) the
        SavedModel has `serve` (the ensemble output, as `predict`) and
        `serve_members` (`(N, ensemble_size, ...)`, as `predict_members`),
        both on inputs of the model's input shape. Other formats (e.g.
        `"onnx"`) are Keras's own export of the ensemble output.
        """
        if format != "tf_saved_model":
            return super().export(filepath, format=format, verbose=verbose,
                                  input_signature=input_signature, **kwargs)
        spec = input_signature or [
            keras.InputSpec(shape=tuple(self.inputs[0].shape), dtype=self.inputs[0].dtype)
        ]
        archive = keras.export.ExportArchive()
        archive.track(self)
        archive.add_endpoint("serve", lambda x: self(x, training=False), input_signature=spec)
        archive.add_endpoint("serve_members", lambda x: self.call_members(x), input_signature=spec)
        archive.write_out(filepath, verbose=bool(verbose) if verbose is not None else True)

    # -- serialization -----------------------------------------------------

    _SEED_STATE_KEY = "mimo_batch_seed_state"

    def save_own_variables(self, store):
        # Keras saves layers' variables; the shuffling state belongs to the
        # model itself, so it is stored here to resume the same batches.
        super().save_own_variables(store)
        store[self._SEED_STATE_KEY] = keras.ops.convert_to_numpy(
            self._batch_seed_generator.state.value
        )

    def load_own_variables(self, store):
        keys = list(store.keys())
        if self._SEED_STATE_KEY in keys:
            self._batch_seed_generator.state.assign(store[self._SEED_STATE_KEY])
        super().load_own_variables(
            {k: store[k] for k in keys if k != self._SEED_STATE_KEY}
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "input_repetition_probability": self.input_repetition_probability,
                "batch_repetitions": self.batch_repetitions,
                "seed": self.seed,
            }
        )
        return config
