import json
import zipfile

import keras
import numpy as np
import pytest

import keras_mimo
from keras_mimo.layers.mixmo_input import MixMoSchedule
from tests.testing import run_saving_test


def mixmo_model(ensemble_size=2, mixing="cut", seed=0):
    inputs = keras.Input((8, 8, 3))
    x = keras_mimo.MixMoInput(ensemble_size, keras.layers.Conv2D(6, 3, padding="same"), mixing=mixing, seed=seed)(
        inputs
    )
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.ReLU()(x))
    out = keras_mimo.MIMOHead(4, ensemble_size, activation="softmax")(x)
    model = keras_mimo.MIMOModel(inputs, out, batch_repetitions=2, seed=seed)
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def data(n=16):
    rng = np.random.default_rng(0)
    return rng.random((n, 8, 8, 3)).astype("float32"), np.arange(n) % 4


@pytest.mark.parametrize("ensemble_size,mixing", [(2, "cut"), (2, "linear"), (3, "cut")])
def test_trains_predicts_and_saves(ensemble_size, mixing, tmp_path):
    model = mixmo_model(ensemble_size, mixing)
    x, y = data()
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[MixMoSchedule(2)])
    assert np.isfinite(history.history["loss"]).all()
    assert model.predict(x, verbose=0).shape == (16, 4)
    assert model.predict_members(x, verbose=0).shape == (16, ensemble_size, 4)
    run_saving_test(model, x, tmp_path, predict=lambda m, v: m.predict_members(v, verbose=0))


def test_inference_sums_the_members_encoded_features():
    """The reference's test-time rule: the trunk sees sum_m encoder_m(x)."""
    model = mixmo_model()
    layer = next(l for l in model.layers if isinstance(l, keras_mimo.MixMoInput))
    x, _ = data(4)
    got = keras.ops.convert_to_numpy(layer(np.repeat(x, 2, axis=0), training=False))  # a direct call on stacked rows
    expected = sum(keras.ops.convert_to_numpy(enc(x)) for enc in layer.encoders)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_training_loss_is_the_mixing_weighted_sum_of_member_losses():
    model = mixmo_model(mixing="linear")
    x, y = data(8)
    stacked = model.form_training_batch((x, y))
    x_rows, y_rows, _ = keras.utils.unpack_x_y_sample_weight(stacked)
    with model.stacked_rows():  # a custom loop's scope: the forward pass's weights travel with its outputs
        y_pred = model(x_rows, training=True)
        weights = keras.ops.convert_to_numpy(keras_mimo._forward_pass.loss_weights(y_pred))
        loss = float(keras.ops.convert_to_numpy(model.compute_loss(x_rows, y_rows, y_pred)))
    probs = keras.ops.convert_to_numpy(y_pred).reshape(-1, 2, 4)
    labels = keras.ops.convert_to_numpy(y_rows).reshape(-1, 2)
    ce = -np.log(np.take_along_axis(probs, labels[..., None], -1)[..., 0])  # (N, M)
    np.testing.assert_allclose(loss, (weights * ce).mean(0).sum(), rtol=1e-4)
    assert not np.allclose(weights, 1.0)  # the weights are not trivially one


def test_schedule_anneals_the_cut_probability_as_the_reference():
    schedule = MixMoSchedule(120)
    assert schedule.probability(0.5, 0) == 0.5
    assert schedule.probability(0.5, 109) == 0.5
    assert schedule.probability(0.5, 115) == pytest.approx(0.5 * (1 - 115 / 120) / (1 / 12))
    assert schedule.probability(0.5, 120) == 0.0


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"mixing": "mixup"}, ValueError, "`mixing` must be one of"),
        ({"alpha": 0.0}, ValueError, "`alpha`"),
        ({"cut_probability": 1.5}, ValueError, "cut_probability"),
        ({"encoder": "conv"}, TypeError, "`encoder`"),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, match):
    args = {"ensemble_size": 2, "encoder": keras.layers.Conv2D(4, 3), **kwargs}
    with pytest.raises(error, match=match):
        keras_mimo.MixMoInput(**args)


def test_encoders_of_different_shapes_and_maps_too_small_to_cut_are_refused():
    layer = keras_mimo.MixMoInput(2, [keras.layers.Conv2D(4, 3), keras.layers.Conv2D(5, 3)])
    with pytest.raises(ValueError, match="same output shape"):
        layer(keras.KerasTensor((4, 8, 8, 3)))
    layer = keras_mimo.MixMoInput(2, keras.layers.Conv2D(4, 8))  # 8x8 -> 1x1
    with pytest.raises(ValueError, match="at least 2 x 2"):
        layer(keras.KerasTensor((4, 8, 8, 3)))


def constant_encoder(value, data_format):
    """A 1x1 convolution whose 4 output channels are `value` everywhere (fixed weights)."""
    return keras.layers.Conv2D(
        4,
        1,
        data_format=data_format,
        kernel_initializer="zeros",
        bias_initializer=keras.initializers.Constant(value),
    )


def is_rectangle(mask):
    ys, xs = np.nonzero(mask)
    return ys.size == 0 or bool(mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].all())


def test_cut_boxes_span_height_and_width_of_channels_first_feature_maps():
    """Member 0's features are 1, member 1's 0: the output is 2 * member 0's mask, on (h, w) in both layouts."""
    x = np.random.default_rng(0).random((2 * 8, 8, 8, 3)).astype("float32")
    outputs, layers = {}, {}
    for data_format in ("channels_last", "channels_first"):
        encoders = [constant_encoder(1.0, data_format), constant_encoder(0.0, data_format)]
        layer = layers[data_format] = keras_mimo.MixMoInput(2, encoders, cut_probability=1.0, seed=0)
        rows = x if data_format == "channels_last" else x.transpose(0, 3, 1, 2)
        outputs[data_format] = keras.ops.convert_to_numpy(layer(rows, training=True))
    last, first = outputs["channels_last"], outputs["channels_first"]
    assert first.shape == (8, 4, 8, 8)
    # the same draws cut the same boxes: channels_first is channels_last transposed
    np.testing.assert_array_equal(first, last.transpose(0, 3, 1, 2))
    # every channel of a position comes from one member
    np.testing.assert_array_equal(first, np.broadcast_to(first[:, :1], first.shape))
    first = np.round(first, 4)  # a member's share of the box's complement is r / r, about 1
    assert set(np.unique(first)) <= {0.0, 2.0}
    for mask in first[:, 0] == 2.0:  # (h, w): member 0 holds the box or its complement
        assert is_rectangle(mask) or is_rectangle(~mask)
    assert any(0 < mask.sum() < mask.size for mask in first[:, 0] == 2.0)  # boxes were cut
    assert [layers[f].data_format for f in layers] == list(layers)  # read from the encoders


def test_data_format_is_read_from_the_encoders_or_given_and_checked():
    conv = keras.layers.Conv2D(4, 3, padding="same", data_format="channels_first")
    nested = keras.Sequential([conv, keras.layers.ReLU()])
    assert keras_mimo.MixMoInput(2, nested).data_format == "channels_first"
    assert keras_mimo.MixMoInput(2, keras.layers.Dense(4)).data_format == keras.config.image_data_format()
    assert keras_mimo.MixMoInput(2, keras.layers.Dense(4), data_format="channels_first").data_format == (
        "channels_first"
    )
    with pytest.raises(ValueError, match="`data_format` must be one of .* Received: data_format='nchw'"):
        keras_mimo.MixMoInput(2, keras.layers.Dense(4), data_format="nchw")
    mixed = [constant_encoder(0.0, "channels_first"), constant_encoder(0.0, "channels_last")]
    with pytest.raises(ValueError, match="different data formats"):
        keras_mimo.MixMoInput(2, mixed)
    layer = keras_mimo.MixMoInput(2, keras.layers.Conv2D(4, 8, data_format="channels_first"))  # (c, 1, 1)
    with pytest.raises(ValueError, match=r"at least 2 x 2.*\(c, h, w\)"):
        layer(keras.KerasTensor((4, 3, 8, 8)))


def two_encoder_model(second):
    inputs = keras.Input((8, 8, 3))
    encoders = [keras.layers.Conv2D(4, 3, padding="same", activation="relu"), second]
    x = keras_mimo.MixMoInput(2, encoders, seed=0)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras_mimo.MIMOModel(inputs, keras_mimo.MIMOHead(4, 2, activation="softmax")(x), seed=0)


def encoder_configs(model):
    layer = next(l for l in model.layers if isinstance(l, keras_mimo.MixMoInput))
    return [{k: v for k, v in e.get_config().items() if k != "name"} for e in layer.encoders]


@pytest.mark.parametrize(
    "second",
    [
        lambda: keras.layers.Conv2D(4, 3, padding="same", activation="tanh"),  # was: silently other predictions
        lambda: keras.layers.Conv2D(4, 5, padding="same", activation="relu"),  # was: load_model failed
    ],
    ids=["activation", "kernel_size"],
)
def test_a_list_of_different_encoders_saves_and_clones_every_member(second, tmp_path):
    model = two_encoder_model(second())
    x, _ = data(4)
    loaded = run_saving_test(model, x, tmp_path, predict=lambda m, v: m.predict_members(v, verbose=0))
    assert encoder_configs(loaded) == encoder_configs(model)
    assert encoder_configs(keras.models.clone_model(model)) == encoder_configs(model)


def test_a_file_with_the_single_encoder_template_of_0_1_0_still_loads(tmp_path):
    """keras-mimo 0.1.0 wrote one template `encoder` (every member a copy of it) and no `data_format`."""
    model = mixmo_model()
    x, _ = data(4)
    expected = model.predict_members(x, verbose=0)
    model.save(tmp_path / "new.keras")
    with zipfile.ZipFile(tmp_path / "new.keras") as new, zipfile.ZipFile(tmp_path / "old.keras", "w") as old:
        for item in new.namelist():
            content = new.read(item)
            if item == "config.json":
                config = json.loads(content)
                layer = next(l for l in config["config"]["layers"] if l["class_name"] == "MixMoInput")["config"]
                template = dict(layer.pop("encoder")[0])
                template["config"] = {**template["config"], "name": "conv2d"}
                layer["encoder"] = template
                del layer["data_format"]
                content = json.dumps(config)
            old.writestr(item, content)
    loaded = keras.saving.load_model(tmp_path / "old.keras", compile=False)
    mixer = next(l for l in loaded.layers if isinstance(l, keras_mimo.MixMoInput))
    assert [e.name for e in mixer.encoders] == [f"{mixer.name}_encoder_{m}" for m in range(2)]  # the template's copies
    assert mixer.data_format == "channels_last"
    np.testing.assert_allclose(loaded.predict_members(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_encoder_lists_with_a_layer_twice_or_callables_without_layers_are_refused():
    conv = keras.layers.Conv2D(4, 3)
    with pytest.raises(ValueError, match="distinct layer per member"):
        keras_mimo.MixMoInput(2, [conv, conv])
    with pytest.raises(TypeError, match="must return a new layer"):
        keras_mimo.MixMoInput(2, lambda: "conv")


def test_a_tiny_alpha_trains_with_finite_losses():
    """alpha=0.01: the Gamma draws of both members underflow on JAX; the loss became nan."""
    inputs = keras.Input((8, 8, 3))
    x = keras_mimo.MixMoInput(2, keras.layers.Conv2D(4, 3, padding="same"), mixing="linear", alpha=0.01, seed=0)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras_mimo.MIMOModel(
        inputs, keras_mimo.MIMOHead(4, 2, activation="softmax")(x), batch_repetitions=4, seed=0
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = data(64)
    history = model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert all(np.isfinite(w).all() for w in model.get_weights())


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixes_and_trains_under_a_mixed_precision_policy(policy):
    keras.config.set_dtype_policy(policy)
    inputs = keras.Input((8, 8, 3))
    mixer = keras_mimo.MixMoInput(2, keras.layers.Dense(4), cut_probability=1.0, seed=0)
    x = keras.layers.GlobalAveragePooling2D()(mixer(inputs))
    model = keras_mimo.MIMOModel(inputs, keras_mimo.MIMOHead(4, 2, activation="softmax")(x), seed=0)
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = data(8)
    history = model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    for mixing in ("cut", "linear"):
        mixer.mixing = mixing
        mixed = mixer(np.repeat(x, 2, axis=0), training=True)  # a direct call on stacked rows
        assert keras.backend.standardize_dtype(mixed.dtype) == mixer.compute_dtype
    mixer.mixing = "cut"
