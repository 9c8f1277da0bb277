"""`convert(weights="keep")`: before any training the ensemble predicts what the trained model predicts."""

import keras
import numpy as np
import pytest

import keras_mimo

M = 3
RNG = np.random.default_rng(0)
X = RNG.normal(0, 1, (6, 5)).astype("float32")
IMAGES = RNG.random((4, 8, 8, 3)).astype("float32")


def trained(model):
    """`model` with every weight set to seeded values, as training would leave it (BN statistics included)."""
    rng = np.random.default_rng(1)
    for w in model.weights:
        value = rng.normal(0, 0.5, w.shape)
        if "variance" in w.path:
            value = np.abs(value) + 0.5
        w.assign(value.astype("float32"))
    return model


def mlp():
    inputs = keras.Input((5,))
    x = keras.layers.Dense(8, activation="relu")(inputs)
    return trained(keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x)))


def logistic():  # the head right after the input: each member's block of the head kernel
    inputs = keras.Input((5,))
    return trained(keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs)))


def sequential():
    return trained(
        keras.Sequential(
            [keras.Input((5,)), keras.layers.Dense(6, activation="tanh"), keras.layers.Dense(1, activation="sigmoid")]
        )
    )


def cnn(data_format="channels_last"):
    shape = (8, 8, 3) if data_format == "channels_last" else (3, 8, 8)
    inputs = keras.Input(shape)
    x = keras.layers.Rescaling(2.0, offset=-1.0)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", data_format=data_format)(x)
    x = keras.layers.BatchNormalization(axis=-1 if data_format == "channels_last" else 1)(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D(data_format=data_format)(x)
    return trained(keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(x)))


def pointwise_head_cnn():  # MobileNet's head: a 1x1 convolution, Reshape and Activation
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D(keepdims=True)(x)
    x = keras.layers.Conv2D(5, 1)(x)
    x = keras.layers.Reshape((5,))(x)
    return trained(keras.Model(inputs, keras.layers.Activation("softmax")(x)))


def nested_stem():  # the first trainable layer inside a nested functional model
    stem_in = keras.Input((8, 8, 3))
    stem = keras.Model(stem_in, keras.layers.Conv2D(4, 3, activation="relu")(keras.layers.ZeroPadding2D()(stem_in)))
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.GlobalAveragePooling2D()(stem(inputs))
    return trained(keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(x)))


def lstm():
    inputs = keras.Input((4, 5))
    x = keras.layers.LSTM(6)(inputs)
    return trained(keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x)))


def two_inputs_two_outputs():
    a, b = keras.Input((5,), name="a"), keras.Input((3,), name="b")
    x = keras.layers.Concatenate()([keras.layers.Dense(4, activation="relu")(a), keras.layers.Dense(4)(b)])
    outputs = {
        "label": keras.layers.Dense(3, activation="softmax", name="label")(x),
        "value": keras.layers.Dense(2, name="value")(x),
    }
    return trained(keras.Model({"a": a, "b": b}, outputs))


SEQUENCES = RNG.normal(0, 1, (6, 4, 5)).astype("float32")
TWO = {"a": X, "b": RNG.normal(0, 1, (6, 3)).astype("float32")}
CASES = {
    "mlp": (mlp, X, {}),
    "logistic": (logistic, X, {}),
    "sequential": (sequential, X, {}),
    "cnn": (cnn, IMAGES, {}),
    "cnn_channels_first": (lambda: cnn("channels_first"), IMAGES.transpose(0, 3, 1, 2), {}),
    "pointwise_head": (pointwise_head_cnn, IMAGES, {}),
    "nested_stem": (nested_stem, IMAGES, {}),
    "lstm": (lstm, SEQUENCES, {}),
    "two_inputs_two_outputs": (two_inputs_two_outputs, TWO, {"ensemble_method": {"label": None, "value": "mean"}}),
    "cut_mixmo": (cnn, IMAGES, {"mixing": "cut"}),
    "linear_mixmo": (cnn, IMAGES, {"mixing": "linear"}),
}


def assert_close(actual, expected, atol=2e-5):
    for a, e in zip(keras.tree.flatten(actual), keras.tree.flatten(expected)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=1e-4, atol=atol)


def members(model, x) -> list:
    """Each member's prediction `[M x (N, ...)]` (the model's output structure per member)."""
    per_output = model.predict_members(x, verbose=0)
    return [
        keras.tree.map_structure(lambda p, m=m: np.asarray(p)[:, m], per_output) for m in range(model.ensemble_size)
    ]


@pytest.mark.parametrize("case", sorted(CASES))
def test_before_training_the_ensemble_and_every_member_predict_what_the_trained_model_does(case):
    build, x, kwargs = CASES[case]
    original = build()
    expected = original.predict(x, verbose=0)
    model = keras_mimo.convert(original, M if "mixmo" not in case else 2, weights="keep", **kwargs)
    assert_close(model.predict(x, verbose=0), expected)
    for member in members(model, x):
        assert_close(member, expected)


def test_fresh_weights_stay_the_default():
    original = mlp()
    model = keras_mimo.convert(original, M)
    assert not np.allclose(model.predict(X, verbose=0), original.predict(X, verbose=0), atol=1e-3)


def test_the_trained_model_is_left_untouched():
    original = cnn()
    before = [np.array(w) for w in original.get_weights()]
    keras_mimo.convert(original, M, weights="keep", member_noise=0.5, seed=0)
    for b, a in zip(before, original.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_the_first_layer_holds_the_trained_kernel_once_per_member_divided_by_m():
    original = mlp()
    model = keras_mimo.convert(original, M, weights="keep")
    kernel = np.asarray(original.layers[1].kernel)
    split = np.asarray(model.get_layer(original.layers[1].name).kernel)
    assert split.shape == (M * 5, 8)
    for m in range(M):
        np.testing.assert_allclose(split[m * 5 : (m + 1) * 5], kernel / M, rtol=1e-6)


def test_logit_heads_predict_the_log_of_the_trained_softmax():
    inputs = keras.Input((5,))
    original = trained(keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Dense(8, activation="relu")(inputs))))
    model = keras_mimo.convert(original, M, weights="keep")
    logits = original.predict(X, verbose=0)
    expected = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    assert_close(model.predict(X, verbose=0), expected)
    for member in members(model, X):
        assert_close(member, logits)


def test_member_noise_starts_the_members_apart_reproducibly():
    original = cnn()
    a = keras_mimo.convert(original, M, weights="keep", member_noise=0.2, seed=3)
    b = keras_mimo.convert(original, M, weights="keep", member_noise=0.2, seed=3)
    first = members(a, IMAGES)
    assert not np.allclose(first[0], first[1], atol=1e-4)
    assert_close(a.predict(IMAGES, verbose=0), b.predict(IMAGES, verbose=0), atol=1e-6)
    # small noise: still close to the trained model
    np.testing.assert_allclose(a.predict(IMAGES, verbose=0), original.predict(IMAGES, verbose=0), atol=0.2)


def test_a_kept_ensemble_saves_loads_and_trains_on(tmp_path):
    original = cnn()
    model = keras_mimo.convert(original, M, weights="keep")
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    path = str(tmp_path / "kept.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert_close(loaded.predict(IMAGES, verbose=0), original.predict(IMAGES, verbose=0))
    labels = np.arange(len(IMAGES)) % 5
    history = loaded.fit(IMAGES, labels, batch_size=4, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert not np.allclose(loaded.predict(IMAGES, verbose=0), original.predict(IMAGES, verbose=0), atol=1e-6)


def test_under_a_mixed_precision_policy():
    original = cnn()
    expected = original.predict(IMAGES, verbose=0)
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = keras_mimo.convert(original, M, weights="keep")
    np.testing.assert_allclose(model.predict(IMAGES, verbose=0), expected, atol=3e-2)


def _embedding_model():
    inputs = keras.Input((6,), dtype="int32")
    x = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(10, 4)(inputs))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))


def _grouped_convolution():
    inputs = keras.Input((8, 8, 4))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, groups=2)(inputs))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))


def _gaussian_head():
    inputs = keras.Input((5,))
    return keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dense(4)(inputs)))


@pytest.mark.parametrize(
    "build, kwargs, match",
    [
        (_embedding_model, {}, "Embedding layer 'embedding'.*sums over its input channels"),
        (_grouped_convolution, {}, "Conv2D layer"),
        (_gaussian_head, {"ensemble_method": "gaussian"}, "MIMOHead"),
        (lambda: cnn(), {"mixing": "linear"}, None),  # a linear encoder scales: supported
    ],
    ids=["embedding_first", "grouped_convolution_first", "gaussian_head", "linear_mixmo"],
)
def test_layers_whose_weights_cannot_carry_over_are_refused_by_name(build, kwargs, match):
    if match is None:
        keras_mimo.convert(build(), 2, weights="keep", **kwargs)
        return
    with pytest.raises(ValueError, match=match):
        keras_mimo.convert(build(), 2, weights="keep", **kwargs)


def test_a_mixmo_encoder_with_a_nonlinear_activation_is_refused():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, activation="tanh")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    with pytest.raises(ValueError, match="linear or relu activation"):
        keras_mimo.convert(model, 2, weights="keep", mixing="cut")


# -- large: keras.applications and keras-hub backbones, built without downloaded weights

APPLICATIONS = {"ResNet50V2": 32, "MobileNetV3Small": 32, "EfficientNetV2B0": 32, "DenseNet121": 32, "ConvNeXtTiny": 32}


@pytest.mark.large
@pytest.mark.parametrize("family", sorted(APPLICATIONS))
def test_keras_applications_keep_their_predictions(family):
    size = APPLICATIONS[family]
    base = getattr(keras.applications, family)(weights=None, input_shape=(size, size, 3), classes=3)
    x = np.random.default_rng(0).random((2, size, size, 3)).astype("float32") * 255.0
    model = keras_mimo.convert(base, 2, weights="keep")
    expected = base.predict(x, verbose=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-4)
    for member in members(model, x):
        np.testing.assert_allclose(member, expected, atol=1e-4)


@pytest.mark.large
def test_a_keras_hub_backbone_keeps_its_predictions():
    from tests.testing import tiny_resnet_backbone

    backbone = tiny_resnet_backbone(3)
    images = keras.Input((16, 16, 3))
    x = keras.layers.GlobalAveragePooling2D()(backbone(images))
    base = trained(keras.Model(images, keras.layers.Dense(4, activation="softmax")(x)))
    x = np.random.default_rng(0).random((3, 16, 16, 3)).astype("float32")
    model = keras_mimo.convert(base, 2, weights="keep")
    expected = base.predict(x, verbose=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)
    for member in members(model, x):
        np.testing.assert_allclose(member, expected, atol=1e-5)


# -- defects found by probing (each failed before its fix)


def test_a_one_member_sequential_with_mixing_runs_its_encoder_once():
    seq = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras_mimo.MIMOInput(1),
            keras.layers.Conv2D(3, 3, padding="same", activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras_mimo.MIMOHead(5, 1, activation="softmax"),
        ]
    )
    trained(seq)
    expected = keras_mimo.MIMOModel(seq.inputs, seq.outputs).predict(IMAGES, verbose=0)
    model = keras_mimo.convert(seq, 2, weights="keep", mixing="linear")
    assert sum(isinstance(layer, keras.layers.Conv2D) for layer in model.layers) == 0  # inside the MixMoInput
    assert_close(model.predict(IMAGES, verbose=0), expected)


def test_a_lora_head_keeps_its_low_rank_update():
    original = mlp()
    head = original.layers[-1]
    head.enable_lora(2)
    head.lora_kernel_b.assign(np.random.default_rng(2).normal(0, 1, (2, 3)).astype("float32"))
    model = keras_mimo.convert(original, M, weights="keep")
    assert_close(model.predict(X, verbose=0), original.predict(X, verbose=0))


def test_a_quantized_layer_is_refused_by_name():
    original = mlp()
    original.quantize("int8")
    with pytest.raises(ValueError, match="quantized"):
        keras_mimo.convert(original, M, weights="keep")


def test_masking_and_ops_before_the_first_trainable_layer_convert():
    inputs = keras.Input((4, 5))
    x = keras.layers.LSTM(6)(keras.layers.Masking(0.0)(inputs))
    original = trained(keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x)))
    sequences = SEQUENCES.copy()
    sequences[:, -1] = 0.0  # a masked last step
    model = keras_mimo.convert(original, M, weights="keep")
    assert sum(isinstance(layer, keras_mimo.MIMOInput) for layer in model.layers) == 1  # not one on the mask
    assert_close(model.predict(sequences, verbose=0), original.predict(sequences, verbose=0))


def test_a_head_ending_in_flatten_or_reshape_keeps_the_output_name():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.GlobalAveragePooling2D(keepdims=True)(keras.layers.Conv2D(4, 3, activation="relu")(inputs))
    outputs = keras.layers.Flatten(name="scores")(keras.layers.Conv2D(5, 1, activation="softmax")(x))
    original = trained(keras.Model(inputs, outputs))
    model = keras_mimo.convert(original, M, weights="keep")
    assert model.layers[-1].name == "scores"
    assert_close(model.predict(IMAGES, verbose=0), original.predict(IMAGES, verbose=0))


def test_a_head_whose_output_feeds_another_layer_is_refused():
    inputs = keras.Input((5,))
    first = keras.layers.Dense(3, activation="softmax", name="first")(keras.layers.Dense(4)(inputs))
    second = keras.layers.Dense(2, activation="softmax")(first)
    with pytest.raises(ValueError, match=r"'first'.*also feeds"):
        keras_mimo.convert(keras.Model(inputs, [first, second]), 2)


def test_a_frozen_head_stays_frozen():
    original = mlp()
    original.layers[-1].trainable = False
    model = keras_mimo.convert(original, M, weights="keep", member_noise=0.1, seed=0)
    assert not model.layers[-1].trainable
    assert np.all(np.isfinite(model.predict(X, verbose=0)))


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_a_seed_outside_32_bits_is_refused_before_anything_is_built(seed):
    with pytest.raises(ValueError, match=r"`seed` must be an int in \[0, 2\*\*32\)"):
        keras_mimo.convert(mlp(), M, weights="keep", seed=seed)


def test_member_noise_skips_non_finite_entries_and_moves_constant_kernels():
    original = mlp()
    kernel = np.array(original.layers[-1].kernel)
    kernel[0, 0] = np.nan
    original.layers[-1].kernel.assign(kernel)
    model = keras_mimo.convert(original, M, weights="keep", member_noise=0.1, seed=0)
    head = np.asarray(model.layers[-1].weights[0])
    assert np.isnan(head).sum() == M  # the one NaN entry, once per member
    constant = mlp()
    constant.layers[1].kernel.assign(np.full((5, 8), 0.3, "float32"))
    model = keras_mimo.convert(constant, M, weights="keep", member_noise=0.1, seed=0)
    split = np.asarray(model.layers[2].kernel)
    assert not np.allclose(split[:5], split[5:10])
