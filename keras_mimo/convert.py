"""`convert`: an existing Keras classifier rebuilt as a MIMOModel."""

import keras

from keras_mimo import _keras_compat
from keras_mimo._validation import check_ensemble_size
from keras_mimo.layers import MIMOHead
from keras_mimo.layers import MIMOInput
from keras_mimo.layers import MixMoInput
from keras_mimo.mixing import MIXINGS
from keras_mimo.model import MIMOModel


def _fresh_copy(layer):
    return layer.__class__.from_config(layer.get_config())


def _head_for(dense, ensemble_size, ensemble_method):
    config = dense.get_config()
    try:
        return _make_head(dense, config, ensemble_size, ensemble_method)
    except ValueError as e:
        raise ValueError(
            f"convert(): the output Dense layer {dense.name!r} cannot become a MIMOHead: {e} "
            "Give convert() an `ensemble_method` per output (a list in the order of the "
            "outputs, or a dict keyed like them) to choose each head's."
        ) from None


def _methods_per_dense(model, denses: list, ensemble_method) -> dict:
    """{Dense layer name: ensemble_method} from one method or a structure of the outputs."""
    if ensemble_method is None or isinstance(ensemble_method, str):
        return {d.name: ensemble_method for d in denses}
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
    if len(flat) != len(denses):
        raise ValueError(
            f"`ensemble_method` needs one method per output ({len(denses)}). Received {len(flat)}: {ensemble_method!r}"
        )
    return {d.name: m for d, m in zip(denses, flat)}


def _make_head(dense, config, ensemble_size, ensemble_method):
    return MIMOHead(
        config["units"],
        ensemble_size,
        activation=config["activation"],
        ensemble_method=ensemble_method,
        use_bias=config["use_bias"],
        kernel_initializer=config["kernel_initializer"],
        bias_initializer=config["bias_initializer"],
        kernel_regularizer=config["kernel_regularizer"],
        bias_regularizer=config["bias_regularizer"],
        kernel_constraint=config["kernel_constraint"],
        bias_constraint=config["bias_constraint"],
        dtype=dense.dtype_policy,
        name=dense.name,
    )


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
        chain.append(consumers[0])
        if consumers[0].trainable_weights:
            return chain
        tensor = consumers[0].output


def _encoder(chain: list):
    layers = [_fresh_copy(layer) for layer in chain]
    return layers[0] if len(layers) == 1 else keras.Sequential(layers, name=f"{chain[-1].name}_encoder")


def _final_dense_layers(model) -> list:
    """The Dense layer producing each (flattened) output; raises naming any other."""
    layers = []
    for tensor in model.outputs:  # flattened, in the order of keras.tree.flatten(model.output)
        producer = _keras_compat.producing_layer(tensor)
        if type(producer) is not keras.layers.Dense:
            raise ValueError(
                "convert() replaces each output's final Dense layer by a "
                f"MIMOHead, but output {tensor.name!r} is produced by "
                f"{type(producer).__name__} layer {producer.name!r}. End that "
                "output in a Dense layer (e.g. Dense(units, activation=...) "
                "instead of a separate Activation), or add the MIMOInput and "
                "MIMOHead layers by hand and build a keras_mimo.MIMOModel."
            )
        layers.append(producer)
    return layers


def convert(
    model: keras.Model,
    ensemble_size: int,
    input_repetition_probability: float = 0.0,
    batch_repetitions: int = 1,
    seed: int | None = None,
    ensemble_method: str | None = None,
    mixing: str | None = None,
) -> MIMOModel:
    """Rebuilds a functional or Sequential model as a MIMO ensemble.

    Inserts a `MIMOInput` right after each of the model's inputs and replaces
    each output's final `Dense` layer by a `MIMOHead` with the same units,
    activation, initializers, regularizers and constraints. All other layers
    are copied from their configs. Several inputs and outputs (lists or
    dicts) keep their structure.

    Weights: every layer of the returned model is freshly initialized (MIMO
    trains from scratch, and the first layer and the head change shape); the
    original model and its weights are left untouched.

    Args:
        model: a functional or Sequential `keras.Model` whose every output
            is produced by a `keras.layers.Dense`.
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
        raise TypeError(f"convert() takes a functional or Sequential keras.Model. Received: {type(model).__name__}")
    if mixing is not None and mixing not in MIXINGS:
        raise ValueError(f"convert(): `mixing` must be None or one of {MIXINGS}. Received: mixing={mixing!r}")
    final = _final_dense_layers(model)
    methods = _methods_per_dense(model, final, ensemble_method)
    denses = {layer.name: layer for layer in final}
    new_inputs = keras.tree.map_structure(
        lambda t: keras.Input(batch_shape=t.shape, dtype=t.dtype, name=t.name),
        model.inputs[0] if isinstance(model, keras.Sequential) else model.input,
    )
    old_inputs = model.inputs if isinstance(model, keras.Sequential) else keras.tree.flatten(model.input)
    if mixing is None:
        replaced = [(t, MIMOInput(ensemble_size)(t)) for t in keras.tree.flatten(new_inputs)]
        chains = {}
    else:
        replaced = []
        chains = {i: _encoder_chain(model, t) for i, t in enumerate(old_inputs)}
        for chain in chains.values():
            if chain[-1].name in denses:
                raise ValueError(
                    f"convert(mixing=...): the first trainable layer after an input is the output layer "
                    f"{chain[-1].name!r}; MixMo needs a layer before the head (e.g. a convolution) as the encoder."
                )
    # {first layer of a chain: input index}; the chain's other layers are skipped (identity)
    encoder_starts = {chain[0].name: i for i, chain in chains.items()}
    inside_chains = {layer.name for chain in chains.values() for layer in chain[1:]}

    def mixing_input(index):
        return MixMoInput(
            ensemble_size,
            _encoder(chains[index]),
            mixing=mixing,
            seed=seed,
            name="mixmo_input" if len(chains) == 1 else f"mixmo_input_{index}",
        )(keras.tree.flatten(new_inputs)[index])

    def through_mimo_input(t):
        return next((mimo for new, mimo in replaced if t is new), t)

    def call_function(layer, *args, **kwargs):
        if layer.name in encoder_starts:
            return mixing_input(encoder_starts[layer.name])
        if layer.name in inside_chains:
            return args[0]
        args, kwargs = keras.tree.map_structure(through_mimo_input, (args, kwargs))
        if layer.name in denses:
            layer = _head_for(denses[layer.name], ensemble_size, methods[layer.name])
        return layer(*args, **kwargs)

    if isinstance(model, keras.Sequential):
        if mixing is None:
            outputs, rest = replaced[0][1], model.layers[:-1]
        else:
            outputs, rest = mixing_input(0), model.layers[len(chains[0]) : -1]
        for layer in rest:
            outputs = _fresh_copy(layer)(outputs)
        outputs = _head_for(model.layers[-1], ensemble_size, methods[model.layers[-1].name])(outputs)
    else:
        clone = keras.models.clone_model(
            model,
            input_tensors=new_inputs,
            clone_function=_fresh_copy,
            call_function=call_function,
        )
        outputs = clone.output
    return MIMOModel(
        new_inputs,
        outputs,
        input_repetition_probability=input_repetition_probability,
        batch_repetitions=batch_repetitions,
        seed=seed,
        name=f"{model.name}_mimo",
    )
