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


def _final_dense(model):
    if len(model.outputs) != 1:
        raise ValueError(
            "convert() supports models with one output. Received a model "
            f"with {len(model.outputs)} outputs."
        )
    producer = _keras_compat.producing_layer(model.outputs[0])
    if type(producer) is not keras.layers.Dense:
        raise ValueError(
            "convert() replaces the model's final Dense layer by a MIMOHead, "
            "but the model's output is produced by "
            f"{type(producer).__name__} layer {producer.name!r}. Add the "
            "MIMOInput and MIMOHead layers by hand instead."
        )
    return producer


def convert(
    model: keras.Model,
    ensemble_size: int,
    input_repetition_probability: float = 0.0,
    batch_repetitions: int = 1,
    seed: int | None = None,
    ensemble_method: str | None = None,
) -> MIMOModel:
    """Rebuilds a functional or Sequential classifier as a MIMO ensemble.

    Inserts a `MIMOInput` right after the model's input and replaces the final
    `Dense` layer by a `MIMOHead` with the same units, activation,
    initializers, regularizers and constraints. All other layers are copied
    from their configs.

    Weights: every layer of the returned model is freshly initialized (MIMO
    trains from scratch, and the first layer and the head change shape); the
    original model and its weights are left untouched.

    Args:
        model: a functional or Sequential `keras.Model` with one input and
            one output produced by a `keras.layers.Dense`.
        ensemble_size: int, the number of members.
        input_repetition_probability, batch_repetitions, seed: passed to
            `MIMOModel`.
        ensemble_method: passed to `MIMOHead` (`None`: from the activation).

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
            "convert() takes a functional or Sequential keras.Model. "
            f"Received: {type(model).__name__}"
        )
    dense = _final_dense(model)
    if len(model.inputs) != 1:
        raise ValueError(
            "convert() supports models with one input. Received a model with "
            f"{len(model.inputs)} inputs."
        )
    original_input = model.inputs[0]
    new_input = keras.Input(
        batch_shape=original_input.shape,
        dtype=original_input.dtype,
        name=original_input.name,
    )
    mimo_input = MIMOInput(ensemble_size)(new_input)

    def call_function(layer, *args, **kwargs):
        args, kwargs = keras.tree.map_structure(
            lambda t: mimo_input if t is new_input else t, (args, kwargs)
        )
        if layer.name == dense.name:
            layer = _head_for(dense, ensemble_size, ensemble_method)
        return layer(*args, **kwargs)

    if isinstance(model, keras.Sequential):
        outputs = mimo_input
        for layer in model.layers[:-1]:
            outputs = _fresh_copy(layer)(outputs)
        outputs = _head_for(dense, ensemble_size, ensemble_method)(outputs)
    else:
        clone = keras.models.clone_model(
            model,
            input_tensors=new_input,
            clone_function=_fresh_copy,
            call_function=call_function,
        )
        outputs = clone.outputs[0]
    return MIMOModel(
        new_input,
        outputs,
        input_repetition_probability=input_repetition_probability,
        batch_repetitions=batch_repetitions,
        seed=seed,
        name=f"{model.name}_mimo",
    )
