"""MixMo's feature mixing, as functions of `keras.ops` (Ramé, Sun, Cord, ICCV 2021).

Each of the `M` members' encoded features `f_m` `(N, h, w, c)` gets a mask
`mask_m` `(N, h, w, 1)` with `sum_m mask_m = 1`; the shared trunk sees
`M * sum_m mask_m * f_m`. At inference every mask is `1 / M`, so the trunk
sees `sum_m f_m`, the reference's test-time rule.

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
"""

from keras import ops
from keras import random

__all__ = ["MIXINGS", "cut_masks", "linear_masks", "loss_weights", "mix", "sample_ratios"]

MIXINGS = ("cut", "linear")


def sample_ratios(batch, ensemble_size: int, alpha: float, seed):
    """Per example mixing ratios `(N, M)` ~ Dirichlet(alpha), from Gamma draws."""
    gamma = random.gamma((batch, ensemble_size), alpha, seed=seed)
    return gamma / ops.sum(gamma, axis=-1, keepdims=True)


def linear_masks(ratios, height: int, width: int):
    """`(N, M, h, w, 1)` constant masks `ratios[n, m]`."""
    return ops.broadcast_to(ratios[:, :, None, None, None], (ops.shape(ratios)[0], ratios.shape[1], height, width, 1))


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


def cut_masks(ratios, height: int, width: int, boxed_member, seed):
    """`(N, M, h, w, 1)`: member `boxed_member` (a scalar int) gets a box, the others share the rest.

    The box has area ratio `ratios[:, boxed_member]`; the other members
    split its complement in proportion to their own ratios.
    """
    ensemble_size = ratios.shape[1]
    onehot = ops.one_hot(boxed_member, ensemble_size)  # (M,)
    box = box_mask(ops.sum(ratios * onehot, axis=-1), height, width, seed)[:, None, :, :, None]  # (N, 1, h, w, 1)
    others = ratios * (1.0 - onehot)
    share = others / ops.maximum(ops.sum(others, axis=-1, keepdims=True), 1e-12)  # (N, M)
    rest = (1.0 - box) * share[:, :, None, None, None]
    return onehot[None, :, None, None, None] * box + rest


def mix(features, masks):
    """`M * sum_m masks[:, m] * features[:, m]`: `(N, M, h, w, c)` and `(N, M, h, w, 1)` to `(N, h, w, c)`."""
    return features.shape[1] * ops.sum(masks * features, axis=1)


def loss_weights(masks, root: float = 3.0):
    """Per example and member, `M * r_m^(1/root) / sum_j r_j^(1/root)`, `r_m` = the mask's mean: `(N, M)`."""
    ratios = ops.mean(masks, axis=(2, 3, 4))
    rooted = ops.power(ops.maximum(ratios, 0.0), 1.0 / root)
    return masks.shape[1] * rooted / ops.sum(rooted, axis=-1, keepdims=True)
