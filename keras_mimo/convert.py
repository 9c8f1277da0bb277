"""`convert`: an existing Keras classifier rebuilt as a MIMOModel."""

import dataclasses

import keras

from keras_mimo import _keras_compat
from keras_mimo import _warm_start
from keras_mimo._validation import check_ensemble_size
from keras_mimo._validation import check_float
from keras_mimo._validation import check_seed
from keras_mimo.layers import MIMOHead
from keras_mimo.layers import MIMOInput
from keras_mimo.layers import MixMoInput
from keras_mimo.mixing import DATA_FORMATS
from keras_mimo.mixing import MIXINGS
from keras_mimo.model import MIMOModel

# Layers that may follow an output's Dense (or 1x1 convolution) and move into its MIMOHead.
_AFTER_HEAD = (keras.layers.Activation, keras.layers.Reshape, keras.layers.Flatten)
_CONVOLUTIONS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
_HEAD_HELP = (
    "End that output in a Dense layer (e.g. Dense(units, activation=...) instead of a separate Activation), "
    "or add the MIMOInput and MIMOHead layers by hand and build a keras_mimo.MIMOModel."
)


def _fresh_copy(layer):
    return layer.__class__.from_config(layer.get_config())


def _learnable(layer) -> bool:
    """Whether `layer` (a nested model: any of its layers) has trainable weights."""
    return bool(getattr(layer, "trainable_weights", None))  # a keras.ops operation in the graph has none


@dataclasses.dataclass(frozen=True)
class _Head:
    """An output's head: a Dense or 1x1 convolution, then Reshape/Flatten/Activation layers.

    `convert` replaces it by one MIMOHead named after the output layer,
    with `flatten`: a Flatten first (a `(N, 1, ..., 1, C)` input reshaped
    to the `(N, units)` output).
    """

    layer: keras.layers.Layer
    after: tuple
    activation: object
    flatten: bool

    @property
    def name(self) -> str:
        return (self.after[-1] if self.after else self.layer).name

    @property
    def flatten_name(self) -> str:  # the first reshape's: it moves before the head
        name = next(l.name for l in self.after if not isinstance(l, keras.layers.Activation))
        return f"{name}_flatten" if name == self.name else name  # the head takes the output's name


def _head_for(head: _Head, ensemble_size, ensemble_method):
    config = head.layer.get_config()
    units = config["filters"] if isinstance(head.layer, _CONVOLUTIONS) else config["units"]
    if isinstance(head.layer, MIMOHead) and ensemble_method is None:  # a one-member model's head keeps its method
        ensemble_method = head.layer.ensemble_method
    try:
        return MIMOHead(
            units,
            ensemble_size,
            activation=head.activation,
            ensemble_method=ensemble_method,
            use_bias=config["use_bias"],
            kernel_initializer=config["kernel_initializer"],
            bias_initializer=config["bias_initializer"],
            kernel_regularizer=config["kernel_regularizer"],
            bias_regularizer=config["bias_regularizer"],
            kernel_constraint=config["kernel_constraint"],
            bias_constraint=config["bias_constraint"],
            dtype=head.layer.dtype_policy,
            trainable=head.layer.trainable,
            name=head.name,
        )
    except ValueError as e:
        raise ValueError(
            f"convert(): the output layer {head.name!r} cannot become a MIMOHead: {e} "
            "Give convert() an `ensemble_method` per output (a list in the order of the "
            "outputs, or a dict keyed like them) to choose each head's."
        ) from None


def _methods_per_head(model, heads: list, ensemble_method) -> list:
    """Each head's ensemble_method, from one method or a structure of the outputs."""
    if ensemble_method is None or isinstance(ensemble_method, str):
        return [ensemble_method] * len(heads)
    structure = model.outputs if isinstance(model, keras.Sequential) else model.output
    if isinstance(ensemble_method, dict) and isinstance(structure, dict):
        if set(ensemble_method) != set(structure):
            raise ValueError(
                f"`ensemble_method` must name every output: expected keys {sorted(structure)}. "
                f"Received: {sorted(ensemble_method)}"
            )
        flat = keras.tree.flatten(ensemble_method)  # dicts flatten in sorted-key order, as outputs do
    elif isinstance(ensemble_method, (list, tuple)) and not isinstance(structure, dict):
        flat = list(ensemble_method)
    else:
        raise ValueError(
            "`ensemble_method` must be None, one method for every head, or a structure like the "
            f"model's outputs ({type(structure).__name__}). Received: {ensemble_method!r}"
        )
    if len(flat) != len(heads):
        raise ValueError(
            f"`ensemble_method` needs one method per output ({len(heads)}). Received {len(flat)}: {ensemble_method!r}"
        )
    return flat


def _consumers(model, tensor) -> list:
    return [layer for layer in model.layers if any(t is tensor for t in _keras_compat.layer_inputs(layer))]


def _encoder_chain(model, tensor) -> list:
    """The layers from `tensor` up to and including the first one with trainable weights.

    MixMo's member encoders: weightless layers before it (padding, rescaling)
    go with it. Raises naming the input when the path branches or merges.
    """
    chain = []
    while True:
        consumers = _consumers(model, tensor)
        if len(consumers) != 1 or len(_keras_compat.layer_inputs(consumers[0])) != 1:
            names = [layer.name for layer in consumers]
            raise ValueError(
                f"convert(mixing=...): MixMo turns the layers from each input up to its first trainable layer into "
                f"one encoder per member, so that path must be a single chain; {tensor.name!r} feeds {names}"
                + (" (one of them takes several inputs)." if len(consumers) == 1 else ".")
                + " Build the model with keras_mimo.MixMoInput by hand instead."
            )
        if not isinstance(consumers[0], MIMOInput):  # a one-member MIMOInput: the identity, left out
            chain.append(consumers[0])
        if _learnable(consumers[0]):
            return chain
        tensor = consumers[0].output


def _encoder(chain: list):
    layers = [_fresh_copy(layer) for layer in chain]
    return layers[0] if len(layers) == 1 else keras.Sequential(layers, name=f"{chain[-1].name}_encoder")


def _is_pointwise_convolution(layer) -> bool:
    """A 1x1 (1, 1x1x1) channels-last convolution with stride 1: a Dense on the last axis."""
    if type(layer) not in _CONVOLUTIONS:
        return False
    config = layer.get_config()
    return (
        all(k == 1 for k in config["kernel_size"])
        and all(s == 1 for s in config["strides"])
        and config.get("groups", 1) == 1
        and config.get("data_format") in (None, "channels_last")
    )


def _is_one_member(layer) -> bool:
    """A MIMOInput or MIMOHead of a one-member keras-mimo model: identity and a Dense head."""
    return isinstance(layer, (MIMOInput, MIMOHead)) and layer.ensemble_size == 1


def _check_single_model(model):
    """Raises if `model` (nested models included) is already an ensemble of several members."""
    for layer in model.layers:
        if isinstance(layer, MixMoInput) or (isinstance(layer, (MIMOInput, MIMOHead)) and not _is_one_member(layer)):
            raise ValueError(
                f"convert(): `model` is already a MIMO ensemble: its {type(layer).__name__} layer {layer.name!r} has "
                f"ensemble_size={layer.ensemble_size}. convert() takes a single model (a keras-mimo model of "
                "ensemble_size=1 included)."
            )
        if hasattr(layer, "layers"):
            _check_single_model(layer)


def _is_linear(activation) -> bool:
    return activation in (None, "linear") or keras.activations.get(activation) is keras.activations.linear


def _output_head(model, output, output_ids) -> _Head:
    """The head producing `output`; raises naming what produces it instead."""
    final = _keras_compat.producing_layer(output)

    def refuse(why):
        raise ValueError(
            "convert() replaces each output's final Dense layer (or 1x1 convolution, with the Reshape, Flatten and "
            f"Activation layers after it) by a MIMOHead, but output {output.name!r} is produced by "
            f"{type(final).__name__} layer {final.name!r}{why}. {_HEAD_HELP}"
        )

    readers = [l.name for l in _consumers(model, output)]
    if readers:
        refuse(f", whose output also feeds {readers} (a head must end its path: its members' rows stay stacked)")
    after, tensor, layer = [], output, final
    while type(layer) in _AFTER_HEAD:
        inputs = _keras_compat.producer_inputs(tensor)
        if len(inputs) != 1:
            refuse(f", which takes {len(inputs)} inputs")
        after.insert(0, layer)
        tensor, layer = inputs[0], _keras_compat.producing_layer(inputs[0])
        others = [l.name for l in _consumers(model, tensor) if l is not after[0]]
        if others or id(tensor) in output_ids:
            refuse(
                f", after {type(layer).__name__} layer {layer.name!r} whose output "
                + (f"also feeds {others}" if others else "is also a model output")
            )
    if type(layer) is not keras.layers.Dense and not _is_pointwise_convolution(layer) and not _is_one_member(layer):
        refuse(
            f", after {type(layer).__name__} layer {layer.name!r}, neither a Dense layer nor a 1x1 convolution"
            if after
            else ""
        )
    activations = [layer.get_config()["activation"]] + [
        l.get_config()["activation"] for l in after if type(l) is keras.layers.Activation
    ]
    nonlinear = [a for a in activations if not _is_linear(a)]
    if len(nonlinear) > 1:
        refuse(f": the head applies {len(nonlinear)} activations ({nonlinear}), a MIMOHead one")
    head_in = tuple(_keras_compat.producer_inputs(tensor)[0].shape[1:])
    head_out, out = tuple(tensor.shape[1:]), tuple(output.shape[1:])
    flatten = out != head_out
    if flatten and not (out == head_out[-1:] and all(d == 1 for d in head_in[:-1])):
        refuse(
            f": {type(layer).__name__} {layer.name!r} gives {head_out} per example, reshaped to {out}; a MIMOHead "
            "keeps the shape of its input but for the last axis (a (1, ..., 1, units) output may become (units,))"
        )
    return _Head(layer, tuple(after), nonlinear[0] if nonlinear else None, flatten)


def _output_heads(model) -> list:
    """The head of each (flattened) output, in the order of keras.tree.flatten(model.output)."""
    output_ids = {id(t) for t in model.outputs}
    return [_output_head(model, tensor, output_ids) for tensor in model.outputs]


class _Rebuild:
    """Fresh copies of a model's layers, with the MIMO layers put in.

    MIMO (`mixing=None`): the rows of the members (example-major stacked,
    `(N * M, ...)`) run through the layers without trainable weights that
    follow the inputs (preprocessing such as Rescaling, Normalization,
    padding), each member on its own rows; a `MIMOInput` is put in front of
    the first layer with trainable weights (or a head) that such a tensor
    reaches, which then sees the members' channels side by side. A nested
    functional or Sequential model that stacked rows reach gets the same
    treatment inside. MixMo (`mixing`): each input's path to its first
    trainable layer becomes a `MixMoInput`'s member encoders.
    """

    def __init__(self, ensemble_size, heads, methods, new_inputs, mixing=None, seed=None, data_format=None):
        self.ensemble_size = ensemble_size
        self.data_format = data_format  # the model's image layout, for its MIMOInputs (None: MIMOInput's default)
        self.heads = {id(h.layer): (h, m) for h, m in zip(heads, methods)}
        self.after_heads = {id(l) for h in heads for l in h.after}
        self.mixing, self.seed = mixing, seed
        self.stacked = {}  # id(new tensor) -> new tensor: members' rows not yet through a MIMOInput
        self.mimo_inputs = {}  # id(stacked tensor) -> its MIMOInput's output
        self.copies = {}  # (id(original layer), which inputs are stacked) -> its new layer
        self.chains = {}  # input index -> MixMo encoder chain
        self.mixing_inputs = {}  # input index -> its MixMoInput
        self.new_inputs = new_inputs
        self.pairs = []  # _warm_start.Pair: each original layer and its new counterpart

    # -- MIMO: where the members' rows meet the first trainable layer --

    def mark_stacked(self, outputs):
        for t in keras.tree.flatten(outputs):
            if isinstance(t, keras.KerasTensor):
                self.stacked[id(t)] = t
        return outputs

    def _is_stacked(self, t) -> bool:
        return isinstance(t, keras.KerasTensor) and id(t) in self.stacked

    def _unstack(self, t):
        if not self._is_stacked(t):
            return t
        if id(t) not in self.mimo_inputs:  # every consumer of a tensor shares its MIMOInput
            self.mimo_inputs[id(t)] = MIMOInput(self.ensemble_size, data_format=self.data_format)(t)
        return self.mimo_inputs[id(t)]

    def _copy(self, layer, split=False):
        """The new copy of `layer`; `split`: its input is a MIMOInput's (the members' channels side by side)."""
        key = (id(layer), ())
        if key not in self.copies:
            self.copies[key] = _fresh_copy(layer)
            self.pairs.append(_warm_start.Pair(layer, self.copies[key], "split" if split else "copy"))
        return self.copies[key]

    def _new_head(self, layer, split: bool):
        head, method = self.heads[id(layer)]
        new = _head_for(head, self.ensemble_size, method)
        self.pairs.append(_warm_start.Pair(layer, new, "split_head" if split else "head"))
        return new

    def _head(self, layer, x):
        head, _ = self.heads[id(layer)]
        split = self._is_stacked(x)
        x = self._unstack(x)
        if head.flatten:
            x = keras.layers.Flatten(name=head.flatten_name)(x)
        return self._new_head(layer, split)(x)

    def call(self, layer, *args, **kwargs):
        """`clone_model`'s call_function: `layer` is the original (see `clone`)."""
        if id(layer) in self.after_heads or isinstance(layer, MIMOInput):
            return args[0]  # moved into the MIMOHead; a one-member MIMOInput is the identity
        if self.mixing is not None:
            return self._mixing_call(layer, *args, **kwargs)
        if id(layer) in self.heads:
            return self._head(layer, args[0])
        data = (args, {k: v for k, v in kwargs.items() if not k.endswith("mask")})
        tensors = [t for t in keras.tree.flatten(data) if isinstance(t, keras.KerasTensor)]
        stacked = tuple(self._is_stacked(t) for t in tensors)
        if any(stacked) and all(stacked) and not _learnable(layer):
            return self.mark_stacked(self._copy(layer)(*args, **kwargs))
        if any(stacked) and _keras_compat.is_graph_model(layer) and args:
            inner = tuple(self._is_stacked(t) for t in keras.tree.flatten(args[0]))
            if any(inner) and inner.count(True) == stacked.count(True):
                return self._copy_split(layer, inner)(*args, **kwargs)
        # a mask of the members' rows is not passed on: the MIMOInput's output carries the members' combined mask
        kwargs = {k: v for k, v in kwargs.items() if not (k.endswith("mask") and self._is_stacked(v))}
        args, kwargs = keras.tree.map_structure(self._unstack, (args, kwargs))
        return self._copy(layer, split=any(stacked) and _learnable(layer))(*args, **kwargs)

    def _copy_split(self, model, stacked: tuple):
        """A copy of nested `model` whose `stacked` inputs take the members' rows: MIMOInputs inside."""
        key = (id(model), stacked)
        if key in self.copies:
            return self.copies[key]
        if isinstance(model, keras.Sequential):
            declared = model.inputs[0]
            layers = self.sequential_layers(model.layers, stacked=True, last=True)
            new = keras.Sequential(
                [keras.Input(batch_shape=declared.shape, dtype=declared.dtype), *layers], name=model.name
            )
        else:
            inputs = keras.tree.map_structure(
                lambda t: keras.Input(batch_shape=t.shape, dtype=t.dtype, name=t.name), model.input
            )
            for t, s in zip(keras.tree.flatten(inputs), stacked):
                if s:
                    self.mark_stacked(t)
            new = self.clone(model, inputs)
            if any(self._is_stacked(t) for t in new.outputs):  # a path with no trainable layer: its rows combine
                outputs = keras.tree.map_structure(self._unstack, new.output)
                new = keras.Model(new.input, outputs, name=model.name)
        self.copies[key] = new
        return new

    def clone(self, model, inputs):
        """The functional `model` on `inputs`, layers replaced by `call`."""
        return keras.models.clone_model(
            model, input_tensors=inputs, clone_function=lambda layer: layer, call_function=self.call
        )

    def sequential_layers(self, layers, stacked: bool, last: bool = False) -> list:
        """The new layers of a Sequential's `layers`; `stacked`: whether they start on the members' rows.

        `last`: a MIMOInput ends the list if the rows are still stacked there.
        """
        new = []
        for layer in layers:
            if id(layer) in self.after_heads or isinstance(layer, MIMOInput):
                continue
            if id(layer) in self.heads:
                head, _ = self.heads[id(layer)]
                split = stacked
                if stacked:
                    new.append(MIMOInput(self.ensemble_size, data_format=self.data_format))
                    stacked = False
                if head.flatten:
                    new.append(keras.layers.Flatten(name=head.flatten_name))
                new.append(self._new_head(layer, split))
                continue
            split = stacked and _learnable(layer)
            if split:
                stacked = False
                if _keras_compat.is_graph_model(layer) and len(layer.inputs) == 1:
                    new.append(self._copy_split(layer, (True,)))
                    continue
                new.append(MIMOInput(self.ensemble_size, data_format=self.data_format))
            new.append(self._copy(layer, split=split))
        if stacked and last:
            new.append(MIMOInput(self.ensemble_size, data_format=self.data_format))
        return new

    # -- MixMo: each input's path to its first trainable layer becomes member encoders --

    def mixing_input(self, index):
        layer = MixMoInput(
            self.ensemble_size,
            _encoder(self.chains[index]),
            mixing=self.mixing,
            seed=self.seed,
            name="mixmo_input" if len(self.chains) == 1 else f"mixmo_input_{index}",
        )
        self.mixing_inputs[index] = layer
        return layer(keras.tree.flatten(self.new_inputs)[index])

    def encoder_pairs(self) -> list:
        """Each MixMo member encoder's layers paired with the chain they copy (call once the model is built)."""
        pairs = []
        for index, layer in self.mixing_inputs.items():
            chain = self.chains[index]
            for member, encoder in enumerate(layer.encoders):
                copies = encoder.layers if isinstance(encoder, keras.Sequential) else [encoder]
                for i, (original, new) in enumerate(zip(chain, copies)):
                    role = "encoder" if i == len(chain) - 1 else "copy"
                    pairs.append(_warm_start.Pair(original, new, role))
        return pairs

    def _mixing_call(self, layer, *args, **kwargs):
        for index, chain in self.chains.items():
            if layer is chain[0]:
                return self.mixing_input(index)
            if any(layer is l for l in chain[1:]):
                return args[0]  # inside the encoder
        if id(layer) in self.heads:
            return self._head(layer, args[0])
        return self._copy(layer)(*args, **kwargs)


def _image_data_format(model):
    """The `data_format` of `model`'s first image layer (e.g. its first `Conv2D`), nested models included; else None.

    `Flatten` is skipped: its `data_format` only orders the flattened values.
    """
    for layer in model.layers:
        data_format = getattr(layer, "data_format", None)
        if data_format in DATA_FORMATS and not isinstance(layer, keras.layers.Flatten):
            return data_format
        if hasattr(layer, "layers"):
            data_format = _image_data_format(layer)
            if data_format is not None:
                return data_format
    return None


def convert(
    model: keras.Model,
    ensemble_size: int,
    input_repetition_probability: float = 0.0,
    batch_repetitions: int = 1,
    seed: int | None = None,
    ensemble_method: str | None = None,
    mixing: str | None = None,
    weights: str | None = None,
    member_noise: float = 0.0,
) -> MIMOModel:
    """Rebuilds a functional or Sequential model as a MIMO ensemble.

    Puts a `MIMOInput` in front of the first layer with trainable weights
    on each input's path and replaces each output's head by a `MIMOHead`
    with the same units, activation, initializers, regularizers and
    constraints. All other layers are copied from their configs. Several
    inputs and outputs (lists or dicts) keep their structure.

    The members' split: layers without trainable weights between an input
    and its first trainable layer (preprocessing such as `Rescaling`,
    per-channel `Normalization`, padding) run on each member's own rows,
    with the channels they were built for; the first trainable layer sees
    the `MIMOInput`'s `ensemble_size` times the channels, and everything
    after it is shared. When that layer is inside a nested functional or
    Sequential model (e.g. a stem block), the `MIMOInput` goes inside it.

    The head: each output's final `Dense` layer, or a `Dense` or 1x1
    convolution (stride 1, channels last) followed only by `Reshape`,
    `Flatten` and `Activation` layers (e.g. MobileNet's head); a
    `(1, ..., 1, units)` head output reshaped to `(units,)` becomes a
    `Flatten` before the `MIMOHead`, named like the output layer.

    Weights: with `weights=None` every layer of the returned model is freshly
    initialized (MIMO from scratch). With `weights="keep"` it starts from the
    model's trained weights, so that before any training `predict` and every
    member of `predict_members` give the trained model's prediction: shared
    layers keep their weights; the first trainable layer after each input
    (which sees `M` times the channels) gets the trained kernel once per
    member divided by `M`; each head gets the trained head once per member
    (a `"softmax_logits"` head predicts the log of the trained softmax); with
    `mixing`, each member encoder is the trained layer with kernel and bias
    divided by `M` (MixMo sums the encoders at inference). The members start
    identical and move apart as each trains on its own shuffled examples;
    `member_noise` starts them apart. The original model is left untouched.

    Args:
        model: a functional or Sequential `keras.Model` whose every output
            is produced by a head as above.
        ensemble_size: int, the number of members.
        input_repetition_probability, batch_repetitions, seed: passed to
            `MIMOModel`.
        ensemble_method: each `MIMOHead`'s `ensemble_method`: one for every
            head, or a list (in the order of the outputs) or dict (keyed like
            the outputs) with one per output; `None` entries (and `None`)
            take the method from the head's activation. A one-unit output
            without activation must be given one (`"sigmoid_logits"` for
            binary logits, `"mean"` or `"gaussian"` for regression).
        mixing: `None` (MIMO: a `MIMOInput` stacks the members' inputs) or
            `"cut"` / `"linear"` (MixMo: a `MixMoInput` with the reference's
            settings replaces each input's path up to its first trainable
            layer, e.g. the first convolution with any padding before it,
            which becomes one encoder per member). Train with
            `keras_mimo.MixMoSchedule(epochs)` among the callbacks.
        weights: `None` (fresh weights) or `"keep"` (start from `model`'s
            weights, see above; a layer whose weights cannot carry over, e.g.
            an `Embedding` right after an input, raises a `ValueError`).
        member_noise: float >= 0, only with `weights="keep"`: each member's
            slice of the first layer's kernel (MixMo: its encoder's kernel)
            and its head kernel get seeded Gaussian noise with this standard
            deviation relative to the kernel's own (`seed`). 0 (the default):
            the members start identical.

    Returns:
        A new, uncompiled `MIMOModel` with the original input shape.

    Example:

    ```python
    base = keras.applications.ResNet50(
        weights=None, input_shape=(32, 32, 3), classes=10
    )
    model = keras_mimo.convert(base, ensemble_size=2)
    ```
    """
    ensemble_size = check_ensemble_size(ensemble_size)
    if not isinstance(model, keras.Model) or not _keras_compat.is_graph_model(model):
        raise TypeError(
            f"convert(): `model` must be a functional or Sequential keras.Model. Received: model of type "
            f"{type(model).__name__}"
        )
    if mixing is not None and mixing not in MIXINGS:
        raise ValueError(f"convert(): `mixing` must be None or one of {MIXINGS}. Received: mixing={mixing!r}")
    if weights is not None and not (isinstance(weights, str) and weights == "keep"):
        raise ValueError(f"convert(): `weights` must be None or 'keep'. Received: weights={weights!r}")
    member_noise = check_float(member_noise, "member_noise", low=0.0, low_open=False)
    seed = check_seed(seed)
    if member_noise and weights is None:
        raise ValueError(
            "convert(): `member_noise` perturbs kept weights, so it needs weights='keep'. "
            f"Received: member_noise={member_noise!r} with weights=None"
        )
    _check_single_model(model)
    heads = _output_heads(model)
    methods = _methods_per_head(model, heads, ensemble_method)
    sequential = isinstance(model, keras.Sequential)
    new_inputs = keras.tree.map_structure(
        lambda t: keras.Input(batch_shape=t.shape, dtype=t.dtype, name=t.name),
        model.inputs[0] if sequential else model.input,
    )
    rebuild = _Rebuild(ensemble_size, heads, methods, new_inputs, mixing, seed, _image_data_format(model))
    if mixing is not None:
        old_inputs = model.inputs if sequential else keras.tree.flatten(model.input)
        rebuild.chains = {i: _encoder_chain(model, t) for i, t in enumerate(old_inputs)}
        for chain in rebuild.chains.values():
            if id(chain[-1]) in rebuild.heads:
                raise ValueError(
                    f"convert(mixing=...): the first trainable layer after an input is the output layer "
                    f"{chain[-1].name!r}; MixMo needs a layer before the head (e.g. a convolution) as the encoder."
                )
    else:
        for t in keras.tree.flatten(new_inputs):
            rebuild.mark_stacked(t)
    if sequential:
        if mixing is None:
            outputs, layers = new_inputs, rebuild.sequential_layers(model.layers, stacked=True)
        else:
            outputs = rebuild.mixing_input(0)
            after_chain = next(i for i, layer in enumerate(model.layers) if layer is rebuild.chains[0][-1]) + 1
            layers = rebuild.sequential_layers(model.layers[after_chain:], stacked=False)
        for layer in layers:
            outputs = layer(outputs)
    else:
        outputs = rebuild.clone(model, new_inputs).output
    mimo = MIMOModel(
        new_inputs,
        outputs,
        input_repetition_probability=input_repetition_probability,
        batch_repetitions=batch_repetitions,
        seed=seed,
        name=f"{model.name}_mimo",
    )
    if weights == "keep":
        _warm_start.transfer(rebuild.pairs + rebuild.encoder_pairs(), model, ensemble_size, member_noise, seed)
    return mimo
