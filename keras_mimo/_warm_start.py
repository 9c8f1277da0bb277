"""`convert(weights="keep")`: a trained model's weights placed in its MIMO rebuild.

Before any training the rebuilt ensemble computes what the trained model
computes: shared layers keep their weights; the first trainable layer after a
`MIMOInput` sees `M` times the input channels and gets the trained kernel
once per member, divided by `M` (the same input in every member's channels
gives the trained layer's pre-activation); each head gets the trained head
once per member; a MixMo member encoder gets the trained layer with kernel
and bias divided by `M` (MixMo sums the `M` encoders' features at inference).
"""

import dataclasses

import keras
import numpy as np

# Layers whose kernel contracts the input channels: their kernel splits per member.
_CHANNEL_CONTRACTING = (
    keras.layers.Dense,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
    keras.layers.SimpleRNN,
    keras.layers.LSTM,
    keras.layers.GRU,
)
# Activations `f` with f(x / M) = f(x) / M: a MixMo encoder ending in one may be scaled.
_HOMOGENEOUS = ("linear", "relu")


@dataclasses.dataclass(frozen=True)
class Pair:
    """A layer of the trained model and its counterpart in the rebuild.

    `role`: "copy" (same weights), "split" (its input comes from a
    `MIMOInput`), "head" (a `MIMOHead` replacing it), "split_head" (a
    `MIMOHead` right after a `MIMOInput`) or "encoder" (a MixMo member's
    copy of the layer ending the member encoders).
    """

    original: keras.layers.Layer
    new: keras.layers.Layer
    role: str


def _refuse(layer, why):
    raise ValueError(
        f"convert(weights='keep'): cannot carry the trained weights of {type(layer).__name__} layer "
        f"{layer.name!r} into the ensemble: {why}. Use weights=None (fresh weights) for this model."
    )


def _numpy(weights) -> list:
    return [keras.ops.convert_to_numpy(w) for w in weights]


def _check_shapes(pair: Pair, old: list, new: list):
    if len(old) != len(new):
        _refuse(pair.original, f"it has {len(old)} weights, its copy {len(new)}")


def _split_axis(layer, old_shape, new_shape, ensemble_size) -> int:
    """The one axis that grew by `ensemble_size` (the input channels)."""
    grown = [a for a, (o, n) in enumerate(zip(old_shape, new_shape)) if o != n]
    if (
        len(old_shape) != len(new_shape)
        or len(grown) != 1
        or new_shape[grown[0]] != ensemble_size * old_shape[grown[0]]
    ):
        _refuse(
            layer, f"a weight of shape {tuple(old_shape)} became {tuple(new_shape)}, not {ensemble_size}x its input"
        )
    return grown[0]


def _noise(rng, value, scale):
    """Gaussian noise of `scale` times `value`'s standard deviation (nothing if `scale` is 0).

    Non-finite entries are left out of the deviation; a constant kernel's deviation is its root mean
    square (1 for zeros), so that noise always moves the members apart.
    """
    if not scale:
        return np.zeros_like(value)
    finite = value[np.isfinite(value)]
    spread = float(np.std(finite)) if finite.size else 0.0
    if spread == 0.0:
        spread = float(np.sqrt(np.mean(np.square(finite)))) if finite.size else 0.0
    return (scale * (spread or 1.0)) * rng.standard_normal(value.shape).astype(value.dtype)


def _split(pair, old, new, ensemble_size, rng, noise):
    layer = pair.original
    if not isinstance(layer, _CHANNEL_CONTRACTING) or getattr(layer, "groups", 1) != 1:
        _refuse(
            layer,
            "it is the first trainable layer after the MIMOInput, and only a layer that sums over its input "
            "channels (Dense, an ungrouped convolution, SimpleRNN/LSTM/GRU) can be split per member",
        )
    values, grew = [], False
    for o, n in zip(old, new):
        if o.shape == n.shape:
            values.append(o)
            continue
        axis = _split_axis(layer, o.shape, n.shape, ensemble_size)
        parts = [o / ensemble_size + _noise(rng, o / ensemble_size, noise) for _ in range(ensemble_size)]
        values.append(np.concatenate(parts, axis=axis))
        grew = True
    if not grew:
        _refuse(layer, "none of its weights takes the MIMOInput's channels")
    return values


def _head_kernel(layer) -> tuple:
    """The trained head's kernel `(features, units)` (LoRA included) and bias (or None)."""
    layer = getattr(layer, "dense", layer)  # a one-member MIMOHead's Dense
    kernel = keras.ops.convert_to_numpy(layer.kernel)  # Dense / Conv: with the LoRA update, if enabled
    kernel = kernel.reshape(-1, kernel.shape[-1])  # a 1x1 convolution's (1, ..., 1, F, U) as (F, U)
    bias = getattr(layer, "bias", None)
    return kernel, (None if bias is None else keras.ops.convert_to_numpy(bias))


def _head(pair, old, new, ensemble_size, rng, noise):
    kernel, bias = _head_kernel(pair.original)
    features, units = kernel.shape
    new_kernel = new[0]
    blocked = pair.role == "split_head"
    expected = (features * (ensemble_size if blocked else 1), ensemble_size * units)
    if new_kernel.shape != expected or (bias is None) != (len(new) == 1):
        _refuse(
            pair.original,
            f"its kernel {kernel.shape} does not fit the MIMOHead's {new_kernel.shape} (e.g. "
            "ensemble_method='gaussian' doubles a head's outputs: train such a head with weights=None)",
        )
    members = [kernel + _noise(rng, kernel, noise) for _ in range(ensemble_size)]
    if blocked:  # member m's input channels feed member m's outputs only
        value = np.zeros(expected, kernel.dtype)
        for m, member in enumerate(members):
            value[m * features : (m + 1) * features, m * units : (m + 1) * units] = member
    else:
        value = np.concatenate(members, axis=1)
    return [value] if bias is None else [value, np.tile(bias, ensemble_size)]


def _encoder(pair, old, new, ensemble_size, rng, noise):
    layer = pair.original
    activation = keras.activations.serialize(getattr(layer, "activation", keras.activations.linear))
    if (
        not isinstance(layer, _CHANNEL_CONTRACTING[:7])
        or (activation if isinstance(activation, str) else activation.get("config")) not in _HOMOGENEOUS
    ):
        _refuse(
            layer,
            "MixMo sums the member encoders' features at inference, so each encoder's last layer is scaled by "
            "1/ensemble_size, which keeps its output only for a Dense or convolution layer with a linear or "
            "relu activation",
        )
    kernel, *rest = old
    return [kernel / ensemble_size + _noise(rng, kernel / ensemble_size, noise)] + [w / ensemble_size for w in rest]


def transfer(pairs: list, original_model, ensemble_size: int, noise: float = 0.0, seed=None):
    """Assigns each pair's new weights from the trained ones; every trained weight must find a place."""
    rng = np.random.default_rng(seed)  # convert() checked it: None or an int in [0, 2**32)
    placed = set()
    for pair in pairs:
        if getattr(pair.original, "quantization_mode", None):
            _refuse(pair.original, f"it is quantized ({pair.original.quantization_mode}); convert the float model")
        if not getattr(pair.original, "weights", None):  # a weightless layer or a keras.ops operation
            continue
        old, new = _numpy(pair.original.weights), _numpy(pair.new.weights)
        if pair.role == "split" and ensemble_size == 1:  # one member: the MIMOInput changes nothing
            pair = Pair(pair.original, pair.new, "copy")
        if pair.role in ("head", "split_head"):
            values = _head(pair, old, new, ensemble_size, rng, noise)
        else:
            _check_shapes(pair, old, new)
            if pair.role == "split":
                values = _split(pair, old, new, ensemble_size, rng, noise)
            elif pair.role == "encoder":
                values = _encoder(pair, old, new, ensemble_size, rng, noise)
            else:
                for o, n in zip(old, new):
                    if o.shape != n.shape:
                        _refuse(pair.original, f"a weight of shape {o.shape} became {n.shape} in the ensemble")
                values = old
        for variable, value in zip(pair.new.weights, values):
            variable.assign(value.astype(keras.backend.standardize_dtype(variable.dtype)))
        placed.update(id(w) for w in pair.original.weights)
    missed = [w.path for w in original_model.weights if id(w) not in placed]
    if missed:
        raise ValueError(
            f"convert(weights='keep'): found no place in the ensemble for the trained weights {missed}. "
            "Use weights=None (fresh weights) for this model."
        )
