"""`MIMOModel`: a functional Keras model trained as a MIMO ensemble."""

import keras

from keras_mimo import _forward_pass
from keras_mimo import _graph
from keras_mimo import _keras_compat
from keras_mimo import _saved_graphs
from keras_mimo._export import write_saved_model
from keras_mimo._members_view import members_view
from keras_mimo._seed_state import SavesBatchSeedState
from keras_mimo._serialization import register
from keras_mimo._validation import check_mimo_arguments
from keras_mimo._distribution import data_shards
from keras_mimo._rows import members_last
from keras_mimo._rows import split_member_structures
from keras_mimo._rows import split_members
from keras_mimo._rows import stack_inputs
from keras_mimo._rows import tile_members
from keras_mimo.batching import form_training_batch
from keras_mimo._distribution import replica_seed

_DEFAULTS = {"input_repetition_probability": 0.0, "batch_repetitions": 1, "seed": None}


def _member_masks(stacked, ensemble_size: int, first_only: bool = False):
    """The Keras mask of stacked rows `(N * M, ...)` split per member (`(M, N, ...)`), or None.

    With `first_only`, member 0's mask `(N, ...)` (at inference every member
    sees the same rows, so every member's mask is the input's).
    """
    mask = _keras_compat.get_mask(stacked)
    if mask is None:
        return None
    members = split_members(mask, ensemble_size)
    return members[0] if first_only else members


def _with_mask(tensor, mask):
    """`tensor` with Keras's mask attribute set (left alone when `mask` is None)."""
    if mask is not None:
        _keras_compat.set_mask(tensor, mask)
    return tensor


def _mixing_weighted(members, weights):
    """Each member's `(y, y_pred, sample_weight)` with its mixing loss weights `(N, M)` folded in (MixMo)."""
    if weights is None:
        return members
    weighted = []
    for m, (y, y_pred, sample_weight) in enumerate(members):
        w = weights[:, m]
        if sample_weight is None:
            sample_weight = keras.tree.map_structure(lambda _: w, y)
        else:
            sample_weight = keras.tree.map_structure(
                lambda s: s * keras.ops.reshape(w, (-1,) + (1,) * (len(s.shape) - 1)), sample_weight
            )
        weighted.append((y, y_pred, sample_weight))
    return weighted


@register
class MIMOModel(
    SavesBatchSeedState, _keras_compat.KeepArgumentsInClones, _keras_compat.ProcessLocalPredictions, keras.Model
):
    """A functional model with `MIMOInput`s and `MIMOHead`s, trained as MIMO.

    Build it like a functional `keras.Model` (one or several inputs and
    outputs, a list or a dict) where every input passes through a
    `MIMOInput` and every output is a `MIMOHead`'s. It keeps the original
    input and output shapes:

    - `fit` (via `train_step`) forms every batch as the reference recipe
      does (`keras_mimo.batching`): inputs, labels and sample weights of
      each member are gathered with the same shuffled indices. Each member's
      loss is the compiled loss on its own labels, and the members' losses
      are *summed*, as in the reference. Training metrics are computed over
      all members' rows (the mean member); `evaluate` scores the ensemble.
    - `model(x)`, `predict`, `evaluate` and validation feed the same input to
      every member in one forward pass; each output is combined by its
      head's `ensemble_method` (mean probability for a softmax head).
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
        seed: int (Python or numpy integer) or None, seed of the batch
            shuffling. The shuffling state is a model variable: it is saved
            and restored with the model.

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
        arguments = dict(
            input_repetition_probability=input_repetition_probability, batch_repetitions=batch_repetitions, seed=seed
        )
        if arguments == _DEFAULTS:  # keras.models.clone_model passes none
            arguments = _keras_compat.clone_source_arguments(self.outputs) or arguments
        (self.input_repetition_probability, self.batch_repetitions, self.seed) = check_mimo_arguments(**arguments)
        self._mimo_graph = _graph.find_mimo_layers(self)
        # the forward pass's record reaches the MIMO layers (and through nested models and blocks)
        for layer in _graph.layers_containing_mimo_layers(self):
            _keras_compat.pass_call_context_argument(layer, _forward_pass.ARGUMENT)
        self._batch_seed_generator = keras.random.SeedGenerator(self.seed, name="mimo_batch_seed")

    @property
    def ensemble_size(self) -> int:
        """The number of ensemble members `M` (read-only)."""
        return self._mimo_graph.ensemble_size

    @property
    def heads(self) -> tuple:
        """The `MIMOHead` layers (read-only): `heads[i]` produces flat output `i`."""
        return self._mimo_graph.heads

    @property
    def ensemble_method(self):
        """Each head's combination rule (read-only), in the structure of `outputs`."""
        methods = [head.ensemble_method for head in self.heads]
        # as Keras returns outputs: a one-element list or tuple is unwrapped
        single = isinstance(self.output, (list, tuple)) and len(self.output) == 1
        return methods[0] if single else keras.tree.pack_sequence_as(self.output, methods)

    def clone_arguments(self) -> dict:
        return {name: getattr(self, name) for name in _DEFAULTS}

    def call(self, inputs, training=None, mask=None):
        inputs = _graph.declared_inputs(self, inputs)
        forward_pass = _forward_pass.ForwardPass()  # handed to the MIMO layers through the graph
        if _forward_pass.in_stacked_rows(self):
            outputs = super().call(inputs, training=training, mask=mask, **{_forward_pass.ARGUMENT: forward_pass})
            _forward_pass.attach_loss_weights(outputs, forward_pass.loss_weights)  # for compute_loss
            return outputs
        _graph.check_input_shapes(self, inputs)
        stacked = keras.tree.map_structure(lambda t: tile_members(t, self.ensemble_size), inputs)
        members = super().call(stacked, training=training, mask=mask, **{_forward_pass.ARGUMENT: forward_pass})
        combined = [
            _with_mask(
                head.combine(split_members(out, self.ensemble_size)),
                _member_masks(out, self.ensemble_size, first_only=True),
            )
            for head, out in zip(self.heads, keras.tree.flatten(members))
        ]
        return keras.tree.pack_sequence_as(members, combined)

    def compute_output_spec(self, inputs, training=None, mask=None):
        spec = super().compute_output_spec(inputs, training=training, mask=mask)
        if _forward_pass.in_stacked_rows(self):
            return spec
        batch = keras.tree.flatten(inputs)[0].shape[0]
        unstacked = lambda s: keras.KerasTensor((batch,) + tuple(s.shape[1:]), dtype=s.dtype)
        return keras.tree.map_structure(unstacked, spec)

    def form_training_batch(self, data):
        """The stacked MIMO batch of `data` (`x`, `(x, y)` or `(x, y, w)`), one step's.

        See `keras_mimo.batching.form_training_batch`; draws from the model's
        shuffling state: per replica under `tf.distribute` and
        `torch.distributed`, per device shard under a JAX
        `keras.distribution` (each shard forms its rows from its own
        examples, so the step stays data-parallel).
        """
        return form_training_batch(
            data,
            self.ensemble_size,
            self.input_repetition_probability,
            self.batch_repetitions,
            seed=replica_seed(self._batch_seed_generator),
            num_shards=data_shards(),
        )

    def stacked_rows(self):
        """Context in which the model runs on stacked training rows (custom loops).

        Inside it, `model(x_rows)` takes the example-major rows of
        `form_training_batch` (`(N * M, ...)`) and returns the members'
        stacked outputs, and `compute_loss` sums the members' compiled losses,
        as `train_step` does: for loops Keras's `fit` does not run, e.g.
        PyTorch DDP (examples/torch_ddp.py, docs/distributed.md). A MixMo
        model's member loss weights travel with the outputs of the forward
        pass that drew them, so `compute_loss(y=..., y_pred=model(x_rows))`
        weights that pass's members.
        """
        return _forward_pass.stacked_rows(self)

    def train_step(self, *args):
        if keras.backend.backend() == "jax":
            return self._jax_train_step(*args)
        (data,) = args
        data = self.form_training_batch(data)
        with _forward_pass.stacked_rows(self):
            return super().train_step(data)

    def _jax_train_step(self, state, data):
        # JAX runs `train_step` as a pure function of `state`: the shuffling
        # draws from the seed generator's state inside a StatelessScope and
        # hands the advanced state on to Keras's own train_step.
        trainable, non_trainable, optimizer_vars, metrics_vars = state
        mapping = list(zip(self.non_trainable_variables, non_trainable))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            data = self.form_training_batch(data)
            non_trainable = [scope.get_current_value(v) for v in self.non_trainable_variables]
        state = (trainable, non_trainable, optimizer_vars, metrics_vars)
        with _forward_pass.stacked_rows(self):
            return super().train_step(state, data)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled loss; on stacked training rows the sum of each member's (MixMo-weighted), regularization once."""
        if not _forward_pass.in_stacked_rows(self):
            return super().compute_loss(x, y, y_pred, sample_weight, training)
        # the MixMo weights of the forward pass that made y_pred (attached to it by `call`)
        mixing_weights = _forward_pass.loss_weights(y_pred)
        members = split_member_structures((y, y_pred, sample_weight), self.ensemble_size)
        members = _mixing_weighted(members, mixing_weights)
        # slices lose Keras's mask: member m's rows keep member m's own mask
        masks = [_member_masks(t, self.ensemble_size) for t in keras.tree.flatten(y_pred)]
        for m, (_, member_pred, _) in enumerate(members):
            for tensor, mask in zip(keras.tree.flatten(member_pred), masks):
                _with_mask(tensor, None if mask is None else mask[m])
        # Member 0 goes through Keras's own compute_loss, which also adds the
        # model's regularization losses; the other members add their loss.
        total = super().compute_loss(x, *members[0], training)
        loss_fn = _keras_compat.compiled_loss(self)
        for member in members[1:] if loss_fn is not None else ():
            loss = loss_fn(*member)
            total = total if loss is None else total + loss
        return total

    def predict_members(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Each member's prediction, in one forward pass per batch (thread-safe: a view's `predict`).

        Args:
            x: what `predict` accepts (arrays, datasets, `PyDataset`). Each
                input is `(N, *input_shape)`, fed to every member, or
                `(N, ensemble_size, *input_shape)`: member `m` sees `[:, m]`.
            batch_size, verbose, steps, callbacks: as in `predict`.

        Returns:
            The structure of `outputs`, each `(N, ensemble_size, *output_shape)`.
        """
        arrays = all(hasattr(t, "shape") for t in keras.tree.flatten(x))
        if arrays:
            x = _graph.declared_inputs(self, x)
        forms = _graph.member_axes(self, x, self.ensemble_size) if arrays else None
        return members_view(self, forms).predict(
            x, batch_size=batch_size, verbose=verbose, steps=steps, callbacks=callbacks
        )

    def call_members(self, inputs, training=False):
        """Traceable `predict_members` (for `tf.function`, `jax.jit`, exports).

        Args:
            inputs: as `x` of `predict_members`, tensors.
            training: forwarded to the layers.

        Returns:
            The structure of `outputs`, each `(N, ensemble_size, ...)`.
        """
        inputs = _graph.declared_inputs(self, inputs)
        forms = _graph.member_axes(self, inputs, self.ensemble_size, "inputs")
        stacked = stack_inputs(inputs, self.ensemble_size, forms)
        with _forward_pass.stacked_rows(self):
            outputs = self(stacked, training=training)
        return members_last(outputs, self.ensemble_size)

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs):
        """Exports for serving; a SavedModel gets two endpoints.

        With `format="tf_saved_model"` (TensorFlow or JAX backend) the
        SavedModel has `serve` (the ensemble output, as `predict`) and
        `serve_members` (`(N, ensemble_size, ...)`, as `predict_members`),
        both on inputs of the model's input shape. Other formats (e.g.
        `"onnx"`) are Keras's own export of the ensemble output.
        """
        if format != "tf_saved_model":
            return super().export(filepath, format=format, verbose=verbose, input_signature=input_signature, **kwargs)
        write_saved_model(self, filepath, verbose, input_signature)

    def get_config(self):
        return {**super().get_config(), **self.clone_arguments()}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        # files of earlier releases: their member-major mask splits, upgraded
        return super().from_config(_saved_graphs.upgrade_config(config), custom_objects)
