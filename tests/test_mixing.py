"""keras_mimo.mixing against numpy transcriptions of the MixMo reference's rules."""

import keras
import numpy as np
import pytest

from keras_mimo import mixing


def np_box(height, width, lam, cy, cx):
    """The reference's box: sides floor(side * sqrt(lam)), half-sides side // 2 around (cy, cx), clipped."""
    cut_h, cut_w = int(height * np.sqrt(lam)), int(width * np.sqrt(lam))
    y1, y2 = np.clip(cy - cut_h // 2, 0, height), np.clip(cy + cut_h // 2, 0, height)
    x1, x2 = np.clip(cx - cut_w // 2, 0, width), np.clip(cx + cut_w // 2, 0, width)
    mask = np.zeros((height, width))
    mask[y1:y2, x1:x2] = 1
    return mask


def test_box_masks_are_the_reference_boxes_and_their_area_ratio_is_the_mask_mean():
    lam = np.array([0.1, 0.3, 0.5, 0.7, 0.95], "float32")
    masks = keras.ops.convert_to_numpy(mixing.box_mask(lam, 8, 8, seed=3))
    for mask, l in zip(masks, lam):
        ys, xs = np.nonzero(mask)
        assert mask.sum() > 0
        # a rectangle: its bounding box is full
        assert mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].all()
        # the same box as the reference for some integer centre, exactly on the integer grid
        assert any(np.array_equal(mask, np_box(8, 8, l, cy, cx)) for cy in range(8) for cx in range(8))


def test_cut_masks_sum_to_one_and_the_loss_weights_use_the_exact_area():
    ratios = keras.ops.convert_to_tensor(np.array([[0.4, 0.6], [0.8, 0.2]], "float32"))
    masks = keras.ops.convert_to_numpy(mixing.cut_masks(ratios, 8, 8, 1, seed=0))  # (N, M, h, w, 1)
    np.testing.assert_allclose(masks.sum(1), 1.0)
    assert set(np.unique(masks)) <= {0.0, 1.0}
    area = masks[:, 1].mean((1, 2, 3))  # member 1 holds the box
    weights = keras.ops.convert_to_numpy(mixing.loss_weights(masks, root=3.0))
    expected = np.stack([(1 - area) ** (1 / 3), area ** (1 / 3)], 1)
    np.testing.assert_allclose(weights, 2 * expected / expected.sum(1, keepdims=True), rtol=1e-6)


def test_three_members_cut_one_box_and_mix_the_rest_in_proportion():
    ratios = np.array([[0.5, 0.3, 0.2]], "float32")
    masks = keras.ops.convert_to_numpy(mixing.cut_masks(keras.ops.convert_to_tensor(ratios), 8, 8, 0, seed=1))
    np.testing.assert_allclose(masks.sum(1), 1.0, rtol=1e-6)
    box = masks[0, 0, ..., 0]
    assert set(np.unique(box)) <= {0.0, 1.0}
    outside = box == 0
    np.testing.assert_allclose(masks[0, 1, ..., 0][outside], 0.6, rtol=1e-6)  # 0.3 / (0.3 + 0.2)
    np.testing.assert_allclose(masks[0, 2, ..., 0][outside], 0.4, rtol=1e-6)


def test_linear_mixing_is_the_weighted_sum_times_m():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(3, 2, 4, 4, 5)).astype("float32")
    ratios = np.array([[0.2, 0.8], [0.5, 0.5], [0.9, 0.1]], "float32")
    masks = mixing.linear_masks(keras.ops.convert_to_tensor(ratios), 4, 4)
    got = keras.ops.convert_to_numpy(mixing.mix(features, masks))
    expected = 2 * (ratios[:, 0, None, None, None] * features[:, 0] + ratios[:, 1, None, None, None] * features[:, 1])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("members", [2, 3])
def test_ratios_are_on_the_simplex_with_the_dirichlet_mean(members):
    ratios = keras.ops.convert_to_numpy(mixing.sample_ratios(4000, members, 2.0, seed=0))
    np.testing.assert_allclose(ratios.sum(1), 1.0, rtol=1e-5)
    assert (ratios >= 0).all()
    np.testing.assert_allclose(ratios.mean(0), 1 / members, atol=0.02)
    # Beta(2, 2) / Dirichlet(2, ...) variance of one ratio: a (A - a) / (A^2 (A + 1)), A = 2 M
    a, total = 2.0, 2.0 * members
    np.testing.assert_allclose(ratios[:, 0].var(), a * (total - a) / (total**2 * (total + 1)), rtol=0.1)


@pytest.mark.parametrize("members,alpha", [(2, 0.02), (3, 0.01)])
def test_ratios_stay_finite_on_the_simplex_for_a_tiny_alpha(members, alpha):
    """Normalised Gamma(0.02) draws are 0/0 on JAX for ~3% of rows; the ratios must be an exact, finite Dirichlet."""
    ratios = keras.ops.convert_to_numpy(mixing.sample_ratios(100_000, members, alpha, seed=0))
    assert np.isfinite(ratios).all() and (ratios >= 0).all()
    np.testing.assert_allclose(ratios.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(ratios.mean(0), 1 / members, atol=0.01)
    # the Dirichlet's variance of one ratio, a (A - a) / (A^2 (A + 1)), A = M a: nearly a vertex per row
    total = alpha * members
    np.testing.assert_allclose(ratios[:, 0].var(), alpha * (total - alpha) / (total**2 * (total + 1)), rtol=0.03)
    assert (ratios.max(1) > 0.99).mean() > 0.9


def test_ratios_refuse_a_bad_alpha_or_ensemble_size():
    with pytest.raises(ValueError, match="`alpha` must be a positive finite float. Received: alpha=0"):
        mixing.sample_ratios(4, 2, 0, seed=0)
    with pytest.raises(ValueError, match="ensemble_size"):
        mixing.sample_ratios(4, 0, 2.0, seed=0)


def test_channels_first_masks_are_the_channels_last_masks_with_the_channel_axis_moved():
    ratios = keras.ops.convert_to_tensor(np.array([[0.3, 0.7], [0.6, 0.4], [0.5, 0.5]], "float32"))
    last = keras.ops.convert_to_numpy(mixing.cut_masks(ratios, 6, 8, 0, seed=4))
    first = keras.ops.convert_to_numpy(mixing.cut_masks(ratios, 6, 8, 0, seed=4, data_format="channels_first"))
    assert last.shape == (3, 2, 6, 8, 1) and first.shape == (3, 2, 1, 6, 8)
    np.testing.assert_array_equal(first, np.moveaxis(last, -1, 2))
    linear = keras.ops.convert_to_numpy(mixing.linear_masks(ratios, 6, 8, data_format="channels_first"))
    assert linear.shape == (3, 2, 1, 6, 8)
    np.testing.assert_allclose(linear[:, :, 0, 2, 5], keras.ops.convert_to_numpy(ratios))
    with pytest.raises(ValueError, match="`data_format` must be one of .* Received: data_format='NCHW'"):
        mixing.linear_masks(ratios, 6, 8, data_format="NCHW")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_mixing_keeps_the_features_dtype(dtype):
    features = keras.ops.ones((2, 2, 4, 4, 3), dtype=dtype)
    masks = mixing.linear_masks(keras.ops.convert_to_tensor(np.array([[0.25, 0.75]] * 2, "float32")), 4, 4)
    mixed = mixing.mix(features, masks)
    assert keras.backend.standardize_dtype(mixed.dtype) == dtype
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.cast(mixed, "float32")), 2.0)
