"""MixMo's feature mixing, as functions of `keras.ops` (Ramé, Sun, Cord, ICCV 2021).

Each of the `M` members' encoded features `f_m` `(N, h, w, c)` gets a mask
`mask_m` `(N, h, w, 1)` with `sum_m mask_m = 1`; the shared trunk sees
`M * sum_m mask_m * f_m`. At inference every mask is `1 / M`, so the trunk
sees `sum_m f_m`, the reference's test-time rule. With
`data_format="channels_first"` the features are `(N, c, h, w)` and the masks
`(N, 1, h, w)`: a mask always spans the two spatial axes and broadcasts over
the channel axis, wherever it is.

- `"linear"` (Linear-MixMo): `mask_m = lambda_m` everywhere.
- `"cut"` (Cut-MixMo): one member (chosen per batch, uniformly) gets a
  rectangle of area ratio `lambda`; the others share the rest linearly, in
  proportion to their `lambda`s (for `M = 2`: the rectangle and its
  complement). The rectangle is the reference's: sides
  `floor(W sqrt(lambda))`, `floor(H sqrt(lambda))`, centred on a uniform
  integer pixel, half-sides `side // 2`, clipped to the map; the ratio used
  for the loss weights is then the mask's exact mean.

`lambda ~ Dirichlet(alpha, ..., alpha)` per example (`Beta(alpha, alpha)`
for `M = 2`). Each member's loss is weighted by
`M * r_m^(1/root) / sum_j r_j^(1/root)` with `r_m` the member's mask mean
(`root = 3` in the reference).

The ratios and masks are float32; `mix` casts the masks to the features'
dtype (half precision under a mixed dtype policy).
"""

import numbers

from keras import ops
from keras import random

from keras_mimo._validation import check_ensemble_size
from keras_mimo._validation import check_positive_finite

__all__ = ["DATA_FORMATS", "MIXINGS", "cut_masks", "linear_masks", "loss_weights", "mix", "sample_ratios"]

MIXINGS = ("cut", "linear")
DATA_FORMATS = ("channels_last", "channels_first")

# float32's smallest normal number: the least uniform draw (log of it is finite)
_TINY = 1.1754944e-38


def check_data_format(data_format) -> str:
    """`data_format` if it is one of `DATA_FORMATS`, else a ValueError naming it."""
    if data_format not in DATA_FORMATS:
        raise ValueError(f"`data_format` must be one of {DATA_FORMATS}. Received: data_format={data_format!r}")
    return data_format


def _static_int(value, name: str, minimum: int) -> int:
    """A Python or numpy int `value` >= `minimum` as an int, else a TypeError / ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an int >= {minimum}. Received: {name}={value!r}")
    if value < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}. Received: {name}={value!r}")
    return int(value)


def _is_static_int(value) -> bool:
    """Whether `value` is a Python or numpy scalar (checked at the call), not a tensor (traced: not checked)."""
    return isinstance(value, (numbers.Number, bool))


def sample_ratios(batch, ensemble_size: int, alpha: float, seed):
    """Per example mixing ratios `(N, M)` ~ Dirichlet(alpha), float32, always finite and summing to 1.

    Normalising Gamma(alpha) draws underflows for small `alpha` (both draws
    round to 0 in float32 and the ratio is 0/0). Instead each draw is kept
    as its logarithm, using `Gamma(alpha) = Gamma(alpha + 1) * U^(1/alpha)`
    (`U` uniform on (0, 1), Marsaglia and Tsang 2000): with
    `s = alpha * log Gamma(alpha + 1) + log U` (finite), the ratios are
    `exp((s - max s) / alpha)` normalised, an exact Dirichlet draw. The
    largest entry is exactly `exp(0) = 1`, so the sum never vanishes; as
    `alpha -> 0` the row tends to the one-hot of its largest draw, the
    Dirichlet's own limit.
    """
    ensemble_size = check_ensemble_size(ensemble_size)
    alpha = check_positive_finite(alpha, "alpha")
    if _is_static_int(batch):  # a Python int; a traced batch size (ops.shape) is not checked
        batch = _static_int(batch, "batch", 0)
        if batch == 0:  # no rows: nothing to draw (a max over an empty axis fails on some backends)
            return ops.zeros((0, ensemble_size), dtype="float32")
    shape = (batch, ensemble_size)
    boosted = random.gamma(shape, alpha + 1.0, dtype="float32", seed=seed)
    uniform = random.uniform(shape, minval=_TINY, maxval=1.0, dtype="float32", seed=seed)
    scaled = alpha * ops.log(ops.maximum(boosted, _TINY)) + ops.log(ops.maximum(uniform, _TINY))
    # <= 0, 0 at the largest draw; a quotient that overflows to -inf gives exp 0
    unnormalised = ops.exp((scaled - ops.max(scaled, axis=-1, keepdims=True)) / alpha)
    return unnormalised / ops.sum(unnormalised, axis=-1, keepdims=True)


def _member_maps(maps, data_format: str):
    """`(N, M, h, w)` maps as masks that broadcast over the channel axis: `(N, M, h, w, 1)` or `(N, M, 1, h, w)`."""
    return maps[:, :, :, :, None] if data_format == "channels_last" else maps[:, :, None, :, :]


def linear_masks(ratios, height: int, width: int, data_format: str = "channels_last"):
    """Constant masks `ratios[n, m]`: `(N, M, h, w, 1)`, or `(N, M, 1, h, w)` for `"channels_first"`."""
    check_data_format(data_format)
    height = _static_int(height, "height", 1)
    width = _static_int(width, "width", 1)
    maps = ops.broadcast_to(ratios[:, :, None, None], (ops.shape(ratios)[0], ratios.shape[1], height, width))
    return _member_maps(maps, data_format)


def box_mask(area_ratio, height: int, width: int, seed):
    """`(N, h, w)` float32 rectangles of area ratio about `area_ratio` `(N,)`, the reference's box."""
    batch = ops.shape(area_ratio)[0]
    side = ops.sqrt(area_ratio)
    cut_h = ops.cast(ops.floor(height * side), "int32")
    cut_w = ops.cast(ops.floor(width * side), "int32")
    centre = random.uniform((batch, 2), seed=seed)
    cy = ops.minimum(ops.cast(ops.floor(centre[:, 0] * height), "int32"), height - 1)
    cx = ops.minimum(ops.cast(ops.floor(centre[:, 1] * width), "int32"), width - 1)
    y1, y2 = ops.clip(cy - cut_h // 2, 0, height), ops.clip(cy + cut_h // 2, 0, height)
    x1, x2 = ops.clip(cx - cut_w // 2, 0, width), ops.clip(cx + cut_w // 2, 0, width)
    rows = ops.arange(height, dtype="int32")[None, :, None]
    cols = ops.arange(width, dtype="int32")[None, None, :]
    inside = (
        (rows >= y1[:, None, None])
        & (rows < y2[:, None, None])
        & (cols >= x1[:, None, None])
        & (cols < x2[:, None, None])
    )
    return ops.cast(inside, "float32")


def cut_masks(ratios, height: int, width: int, boxed_member, seed, data_format: str = "channels_last"):
    """Member `boxed_member` (a scalar int) gets a box, the others share the rest.

    `(N, M, h, w, 1)`, or `(N, M, 1, h, w)` for `"channels_first"`: the box
    is cut over the spatial axes `(h, w)` in either layout. It has area
    ratio `ratios[:, boxed_member]`; the other members split its complement
    in proportion to their own ratios.
    """
    check_data_format(data_format)
    height = _static_int(height, "height", 1)
    width = _static_int(width, "width", 1)
    ensemble_size = ratios.shape[1]
    if _is_static_int(boxed_member):  # a Python int; a traced member index is not checked
        boxed_member = _static_int(boxed_member, "boxed_member", 0)
        if ensemble_size is not None and boxed_member >= ensemble_size:
            raise ValueError(
                f"cut_masks: `boxed_member` must be a member index in [0, {ensemble_size}). "
                f"Received: boxed_member={boxed_member}"
            )
    if ensemble_size == 1:  # one member keeps all of its features: no box to cut
        return ops.ones_like(linear_masks(ratios, height, width, data_format))
    onehot = ops.one_hot(boxed_member, ensemble_size)  # (M,)
    box = box_mask(ops.sum(ratios * onehot, axis=-1), height, width, seed)[:, None, :, :]  # (N, 1, h, w)
    others = ratios * (1.0 - onehot)
    share = others / ops.maximum(ops.sum(others, axis=-1, keepdims=True), 1e-12)  # (N, M)
    rest = (1.0 - box) * share[:, :, None, None]
    return _member_maps(onehot[None, :, None, None] * box + rest, data_format)


def mix(features, masks):
    """`M * sum_m masks[:, m] * features[:, m]`: `(N, M, ...)` features and masks to `(N, ...)`, the features' dtype.

    The masks (float32) are cast to the features' dtype, so a half-precision
    trunk (a mixed dtype policy) gets half-precision features.
    """
    if len(features.shape) != len(masks.shape) or not all(
        f is None or m is None or m in (1, f) for f, m in zip(features.shape, masks.shape)
    ):
        raise ValueError(
            "mix: `masks` must broadcast against `features` (N, M, ...) (the masks' channel axis 1). Received: "
            f"masks of shape {tuple(masks.shape)} for features of shape {tuple(features.shape)}"
        )
    masks = ops.cast(masks, features.dtype)
    return features.shape[1] * ops.sum(masks * features, axis=1)


def loss_weights(masks, root: float = 3.0):
    """Per example and member, `M * r_m^(1/root) / sum_j r_j^(1/root)`, `r_m` = the mask's mean: `(N, M)`."""
    root = check_positive_finite(root, "root")
    if len(masks.shape) != 5:
        raise ValueError(
            "loss_weights: `masks` must be (N, M, h, w, 1) or (N, M, 1, h, w). "
            f"Received: masks of shape {tuple(masks.shape)}"
        )
    ratios = ops.mean(masks, axis=(2, 3, 4))
    rooted = ops.power(ops.maximum(ratios, 0.0), 1.0 / root)
    return masks.shape[1] * rooted / ops.sum(rooted, axis=-1, keepdims=True)
