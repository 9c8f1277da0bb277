"""Finding and checking the MIMO layers of a functional model's graph."""

from keras_mimo.layers import MIMOHead
from keras_mimo.layers import MIMOInput


def all_layers(model):
    """Every layer of `model`, nested models included, depth first."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from all_layers(layer)


_HOW_TO_ADD = {
    "MIMOInput": "`keras_mimo.MIMOInput(ensemble_size)` right after the input",
    "MIMOHead": "`keras_mimo.MIMOHead(units, ensemble_size)` in place of the final "
    "Dense layer",
}


def _exactly_one(layers, cls_name):
    if len(layers) != 1:
        raise ValueError(
            f"MIMOModel needs exactly one {cls_name} layer in the graph: put "
            f"{_HOW_TO_ADD[cls_name]}. Found {len(layers)}: "
            f"{[layer.name for layer in layers]}"
        )
    return layers[0]


def find_mimo_layers(model) -> tuple:
    """`(mimo_input, head)` of a MIMOModel's graph; raises on a malformed graph.

    Checks: exactly one `MIMOInput` and one `MIMOHead`, the same
    `ensemble_size`, a single model input, and the head's output as the
    model's only output.
    """
    layers = list(all_layers(model))
    mimo_input = _exactly_one([l for l in layers if isinstance(l, MIMOInput)], "MIMOInput")
    head = _exactly_one([l for l in layers if isinstance(l, MIMOHead)], "MIMOHead")
    if mimo_input.ensemble_size != head.ensemble_size:
        raise ValueError(
            "MIMOInput and MIMOHead must have the same ensemble_size. "
            f"Received: MIMOInput(ensemble_size={mimo_input.ensemble_size}) "
            f"and MIMOHead(ensemble_size={head.ensemble_size})"
        )
    if len(model.inputs) != 1:
        raise ValueError(
            "MIMOModel supports models with a single input tensor. "
            f"Received {len(model.inputs)} inputs."
        )
    if len(model.outputs) != 1 or model.outputs[0] is not head.output:
        raise ValueError(
            "The MIMOHead's output must be the model's only output (the "
            f"ensemble is combined from it). Received outputs: {model.outputs}"
        )
    return mimo_input, head


def fits_shape(expected, dims) -> bool:
    """Whether per-example `dims` match `expected` (None matches anything)."""
    expected = tuple(expected)
    return len(dims) == len(expected) and all(
        e is None or d is None or e == d for e, d in zip(expected, dims)
    )


def check_input_shape(model, shape):
    """Raises unless `shape` `(N, ...)` fits the model's input shape."""
    if not fits_shape(model.inputs[0].shape[1:], tuple(shape[1:])):
        raise ValueError(
            f"MIMOModel {model.name!r} expected inputs of shape "
            f"{tuple(model.inputs[0].shape)}, the shape it was built with. "
            f"Received: shape {tuple(shape)}"
        )


def has_member_axis(model, shape, ensemble_size: int) -> bool:
    """True for `(N, M, *input_shape)`, False for `(N, *input_shape)`; else raises."""
    expected = tuple(model.inputs[0].shape[1:])
    if fits_shape(expected, tuple(shape[1:])):
        return False
    if len(shape) > 1 and shape[1] == ensemble_size and fits_shape(expected, tuple(shape[2:])):
        return True
    dims = ", ".join(map(str, expected))
    raise ValueError(
        f"predict_members expects inputs of shape (N, *input_shape) = (N, {dims}) "
        f"or (N, ensemble_size, *input_shape) = (N, {ensemble_size}, {dims}). "
        f"Received: shape {tuple(shape)}"
    )

