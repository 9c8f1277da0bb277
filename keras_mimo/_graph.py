"""Finding and checking the MIMO layers of a functional model's graph."""

import dataclasses
import warnings

import keras

from keras_mimo import _keras_compat
from keras_mimo.layers import MIMOHead
from keras_mimo.layers import MIMOInput


def all_layers(model):
    """Every layer of `model`, nested models included, depth first."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from all_layers(layer)


def layers_containing_mimo_layers(model) -> list:
    """The MIMO layers of `model` and every nested model or block holding one, depth first."""
    return [layer for layer in dict.fromkeys(all_layers(model)) if _is_or_holds(layer, (MIMOInput, MIMOHead))]


@dataclasses.dataclass(frozen=True)
class MIMOGraph:
    """The MIMO layers a model needs at run time: `heads[i]` produces flat output `i`."""

    ensemble_size: int
    heads: tuple


def _is_or_holds(layer, types) -> bool:
    """Whether `layer` is one of `types` or a nested model or block holding one."""
    return isinstance(layer, types) or (
        hasattr(layer, "layers") and any(isinstance(l, types) for l in all_layers(layer))
    )


def _inputs_reaching_heads_directly(model, heads) -> list:
    """Model inputs with a path to a head that passes through no MIMOInput."""
    model_inputs = {id(t): t for t in model.inputs}
    found, seen = {}, set()
    stack = [t for head in heads for t in _keras_compat.layer_inputs(head)]
    while stack:
        tensor = stack.pop()
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        if id(tensor) in model_inputs:
            found[id(tensor)] = tensor
            continue
        layer = _keras_compat.producing_layer(tensor)
        if _is_or_holds(layer, MIMOInput):
            continue
        stack.extend(_keras_compat.producer_inputs(tensor))
    return [t for t in model.inputs if id(t) in found]


def find_mimo_layers(model) -> MIMOGraph:
    """The MIMO layers of a MIMOModel's graph; raises on a malformed graph.

    Checks: at least one `MIMOInput` and one `MIMOHead`, one `ensemble_size`
    for all of them, every model output produced by a `MIMOHead`, every
    `MIMOHead` output a model output, and every model input reaching the
    heads only through a `MIMOInput`.
    """
    layers = list(dict.fromkeys(all_layers(model)))
    mimo_inputs = [l for l in layers if isinstance(l, MIMOInput)]
    heads = [l for l in layers if isinstance(l, MIMOHead)]
    if not mimo_inputs:
        raise ValueError(
            "MIMOModel needs a MIMOInput layer in the graph: put "
            "`keras_mimo.MIMOInput(ensemble_size)` right after each input."
        )
    if not heads:
        raise ValueError(
            "MIMOModel needs a MIMOHead layer in the graph: put "
            "`keras_mimo.MIMOHead(units, ensemble_size)` in place of each "
            "output's final Dense layer."
        )
    sizes = {l.ensemble_size for l in mimo_inputs + heads}
    if len(sizes) > 1:
        found = ", ".join(
            f"{type(l).__name__} {l.name!r} (ensemble_size={l.ensemble_size})" for l in mimo_inputs + heads
        )
        raise ValueError(f"All MIMOInput and MIMOHead layers must have the same ensemble_size. Received: {found}")
    outputs = keras.tree.flatten(model.output)
    producers = [_keras_compat.producing_layer(t) for t in outputs]
    for tensor, layer in zip(outputs, producers):
        if not isinstance(layer, MIMOHead):
            raise ValueError(
                f"Every output of a MIMOModel must be a MIMOHead's output (the "
                f"ensemble is combined from it), but output {tensor.name!r} is "
                f"produced by {type(layer).__name__} layer {layer.name!r}. Use a "
                "MIMOHead in its place, or move layers after the head into the "
                "backbone."
            )
    for head in heads:
        if head not in producers:
            raise ValueError(
                f"MIMOHead {head.name!r} feeds other layers but its output is "
                "not a model output: the members' rows it emits would mix with "
                "ordinary rows. Use a Dense layer there, or make it an output."
            )
    skipping = _inputs_reaching_heads_directly(model, heads)
    if skipping:
        names = [t.name for t in skipping]
        raise ValueError(
            f"Model input(s) {names} reach the MIMOHead without a MIMOInput: "
            "every input must pass through its own "
            "`keras_mimo.MIMOInput(ensemble_size)` before the shared trunk."
        )
    return MIMOGraph(sizes.pop(), tuple(producers))


def fits_shape(expected, dims) -> bool:
    """Whether per-example `dims` match `expected` (None matches anything)."""
    expected = tuple(expected)
    return len(dims) == len(expected) and all(e is None or d is None or e == d for e, d in zip(expected, dims))


def declared_inputs(model, inputs):
    """`inputs` without the dict keys the model does not take (as Keras ignores them).

    A dict of inputs may hold more keys than a dict-input model declares
    (e.g. a dataset's extra features); Keras's functional models drop them
    with a warning, and so does a MIMOModel. Other structures pass unchanged.
    """
    declared = model.input
    if isinstance(declared, dict) and isinstance(inputs, dict):
        extra = sorted(set(inputs) - set(declared))
        if extra:
            warnings.warn(
                f"MIMOModel {model.name!r} ignores input keys {extra}: it takes {sorted(declared)}.",
                stacklevel=3,
            )
            return {k: v for k, v in inputs.items() if k in declared}
    return inputs


def paired_inputs(model, inputs) -> list:
    """`[(tensor, declared Input)]` for each of `inputs`, in flattened order."""
    flat, declared = keras.tree.flatten(declared_inputs(model, inputs)), keras.tree.flatten(model.input)
    if len(flat) != len(declared):
        raise ValueError(
            f"MIMOModel {model.name!r} takes {len(declared)} input(s) "
            f"{[t.name for t in declared]}. Received {len(flat)}."
        )
    return list(zip(flat, declared))


def check_input_shapes(model, inputs):
    """Raises unless every input `(N, ...)` fits the model's input shape."""
    for x, declared in paired_inputs(model, inputs):
        if not fits_shape(declared.shape[1:], tuple(x.shape[1:])):
            raise ValueError(
                f"MIMOModel {model.name!r} expected input {declared.name!r} of "
                f"shape {tuple(declared.shape)}, the shape it was built "
                f"with. Received: shape {tuple(x.shape)}"
            )


def member_axes(model, inputs, ensemble_size: int, name: str = "x") -> tuple:
    """Per input: True for `(N, M, *input_shape)`, False for `(N, *input_shape)`; else raises naming `name`."""
    forms = []
    for x, declared in paired_inputs(model, inputs):
        shape = tuple(x.shape)
        expected = tuple(declared.shape[1:])
        if fits_shape(expected, shape[1:]):
            forms.append(False)
        elif len(shape) > 1 and shape[1] == ensemble_size and fits_shape(expected, shape[2:]):
            forms.append(True)
        else:
            dims = ", ".join(map(str, expected))
            raise ValueError(
                f"`{name}` must hold input {declared.name!r} of shape "
                f"(N, *input_shape) = (N, {dims}) or (N, ensemble_size, "
                f"*input_shape) = (N, {ensemble_size}, {dims}). Received: "
                f"{name} of shape {shape}"
            )
    return tuple(forms)
