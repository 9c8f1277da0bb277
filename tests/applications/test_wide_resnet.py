import keras
import numpy as np
import pytest

import keras_mimo
from keras_mimo.applications import wide_resnet


def wrn_parameter_count(depth, width_multiplier, ensemble_size=None, channels=3, classes=10):
    """The Wide ResNet's weights (batch-norm statistics included), from its architecture's arithmetic."""
    members = ensemble_size or 1
    blocks = (depth - 4) // 6
    count = 9 * channels * members * 16  # the stem's 3x3 convolution, no bias
    width = 16
    for group, filters in enumerate((16, 32, 64)):
        for b in range(blocks):
            out = filters * width_multiplier
            count += 4 * width + 9 * width * out + 4 * out + 9 * out * out  # bn1, conv1, bn2, conv2
            if (group > 0 and b == 0) or width != out:
                count += width * out  # the 1x1 projection shortcut
            width = out
    return count + 4 * width + width * classes * members + classes * members  # final bn, head


@pytest.mark.parametrize("depth,width,ensemble_size", [(10, 1, None), (10, 2, 3), (16, 1, 2), (10, 1, 4)])
def test_parameter_count_follows_the_architecture(depth, width, ensemble_size):
    model = wide_resnet(depth=depth, width_multiplier=width, ensemble_size=ensemble_size)
    assert isinstance(model, keras_mimo.MIMOModel) == (ensemble_size is not None)
    assert model.count_params() == wrn_parameter_count(depth, width, ensemble_size)


def test_wrn_28_10_mimo3_has_the_papers_parameter_count():
    # The MIMO paper: WRN-28-10 MIMO (M=3) has 36.5M parameters, like the single model
    # (the arithmetic is checked on built models above; building this one takes 20 s).
    assert wrn_parameter_count(28, 10, 3) == 36_510_830  # the reference implementation's count
    assert 0 < wrn_parameter_count(28, 10, 3) - wrn_parameter_count(28, 10) < 20_000


@pytest.mark.large
def test_built_wrn_28_10_mimo3_has_the_papers_parameter_count():
    assert wide_resnet(depth=28, width_multiplier=10, ensemble_size=3).count_params() == 36_510_830


def test_small_wrn_predicts_with_the_original_input_shape():
    model = wide_resnet(
        depth=10, width_multiplier=1, num_classes=7, ensemble_size=2, l2=1e-4, batch_repetitions=2, seed=1
    )
    assert model.batch_repetitions == 2 and model.seed == 1
    probs = model.predict(np.zeros((3, 32, 32, 3), "float32"), verbose=0)
    assert probs.shape == (3, 7)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    assert len(model.losses) > 0  # l2 on kernels, biases and batch norm


@pytest.mark.parametrize("depth", [12, 27, 0])
def test_depth_must_be_6n_plus_4(depth):
    with pytest.raises(ValueError, match="depth"):
        wide_resnet(depth=depth, width_multiplier=1)


def test_projection_shortcut_takes_the_raw_block_input():
    model = wide_resnet(depth=10, width_multiplier=2, ensemble_size=2)
    for group in (0, 1, 2):
        shortcut = model.get_layer(f"group{group}_block0_shortcut")
        block_input = model.get_layer(f"group{group}_block0_bn1").input
        assert shortcut.input is block_input
        assert model.get_layer(f"group{group}_block0_relu1").output is not shortcut.input


def test_virtual_batch_size_reaches_every_batch_norm_and_trains():
    model = wide_resnet(
        depth=10, width_multiplier=1, ensemble_size=2, batch_repetitions=2, virtual_batch_size=4, head_activation=None
    )
    norms = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert norms and all(l.virtual_batch_size == 4 for l in norms)
    assert model.ensemble_method == "softmax_logits"
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 32, 32, 3)).astype("float32"), rng.integers(0, 10, 16)
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert np.isfinite(model.fit(x, y, batch_size=8, epochs=1, verbose=0).history["loss"][0])


def test_logits_head_ensemble_is_the_log_mean_exp_of_member_log_probabilities():
    model = wide_resnet(depth=10, width_multiplier=1, ensemble_size=3, head_activation=None)
    x = np.random.default_rng(1).random((4, 32, 32, 3)).astype("float32")
    members = model.predict_members(x, verbose=0).astype("float64")
    log_probs = members - np.log(np.exp(members).sum(-1, keepdims=True))
    expected = np.log(np.exp(log_probs).mean(1))
    logits = model.predict(x, verbose=0)
    got = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
