"""`convert`: an existing Keras classifier rebuilt as a MIMOModel."""

import keras

from keras_mimo import _keras_compat
from keras_mimo._validation import check_ensemble_size
from keras_mimo.layers import MIMOHead
from keras_mimo.layers import MIMOInput
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
    final = _final_dense_layers(model)
    methods = _methods_per_dense(model, final, ensemble_method)
    denses = {layer.name: layer for layer in final}
    new_inputs = keras.tree.map_structure(
        lambda t: keras.Input(batch_shape=t.shape, dtype=t.dtype, name=t.name),
        model.inputs[0] if isinstance(model, keras.Sequential) else model.input,
    )
    replaced = [(t, MIMOInput(ensemble_size)(t)) for t in keras.tree.flatten(new_inputs)]

    def through_mimo_input(t):
        return next((mimo for new, mimo in replaced if t is new), t)

    def call_function(layer, *args, **kwargs):
        args, kwargs = keras.tree.map_structure(through_mimo_input, (args, kwargs))
        if layer.name in denses:
            layer = _head_for(denses[layer.name], ensemble_size, methods[layer.name])
        return layer(*args, **kwargs)

    if isinstance(model, keras.Sequential):
        outputs = replaced[0][1]
        for layer in model.layers[:-1]:
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
