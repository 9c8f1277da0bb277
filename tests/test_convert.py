import keras
import numpy as np
import pytest

import keras_mimo


def small_cnn():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    skip = keras.layers.Conv2D(4, 1)(inputs)  # the input feeds two layers
    x = keras.layers.Add()([x, keras.layers.Cropping2D(1)(skip)])
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(5, activation="softmax", kernel_regularizer="l2", name="probs")(x)
    return keras.Model(inputs, outputs, name="cnn")


def test_functional_model_gets_mimo_layers_and_keeps_its_input_shape():
    model = keras_mimo.convert(small_cnn(), 3, batch_repetitions=2, seed=1)
    assert isinstance(model, keras_mimo.MIMOModel)
    assert model.ensemble_size == 3 and model.batch_repetitions == 2 and model.seed == 1
    assert tuple(model.inputs[0].shape) == (None, 8, 8, 3)
    head = next(l for l in model.layers if isinstance(l, keras_mimo.MIMOHead))
    assert (head.units, head.ensemble_method, head.name) == (5, "mean", "probs")
    assert isinstance(head.kernel_regularizer, keras.regularizers.L2)
    # both consumers of the input now see the MIMOInput's 9 channels
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    assert all(conv.kernel.shape[2] == 9 for conv in convs)
    assert model.predict(np.zeros((4, 8, 8, 3), "float32"), verbose=0).shape == (4, 5)


def test_sequential_model_converts():
    seq = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)])
    model = keras_mimo.convert(seq, 2)
    assert model.ensemble_method == "softmax_logits"
    assert model.predict_members(np.zeros((4, 6), "float32"), verbose=0).shape == (4, 2, 3)


def test_original_model_is_untouched_and_weights_are_fresh():
    base = small_cnn()
    before = [w.copy() for w in base.get_weights()]
    model = keras_mimo.convert(base, 2)
    for w, b in zip(base.get_weights(), before):
        np.testing.assert_array_equal(w, b)
    assert not set(map(id, model.weights)) & set(map(id, base.weights))


def test_converted_model_trains():
    rng = np.random.default_rng(0)
    x, y = rng.random((32, 8, 8, 3)).astype("float32"), rng.integers(0, 5, 32)
    model = keras_mimo.convert(small_cnn(), 2, batch_repetitions=2)
    model.compile("adam", "sparse_categorical_crossentropy")
    assert np.isfinite(model.fit(x, y, epochs=1, verbose=0).history["loss"][0])


@pytest.mark.slow
def test_keras_applications_resnet50_converts():
    base = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=10)
    model = keras_mimo.convert(base, 2)
    assert model.predict(np.zeros((2, 32, 32, 3), "float32"), verbose=0).shape == (2, 10)
    # only the first convolution and the head grow
    assert 0 < model.count_params() - base.count_params() < 0.01 * base.count_params()


def test_model_without_final_dense_is_rejected():
    inputs = keras.Input((4,))
    outputs = keras.layers.Softmax()(keras.layers.Dense(3)(inputs))
    with pytest.raises(ValueError, match="final Dense"):
        keras_mimo.convert(keras.Model(inputs, outputs), 2)


def test_bad_ensemble_size_is_rejected():
    with pytest.raises(ValueError, match="ensemble_size"):
        keras_mimo.convert(small_cnn(), 0)


def test_non_model_is_rejected():
    with pytest.raises(TypeError, match="functional or Sequential"):
        keras_mimo.convert(keras.layers.Dense(3), 2)


@pytest.mark.parametrize("as_dict", [False, True])
def test_two_input_two_output_model_converts(as_dict):
    image, meta = keras.Input((8, 8, 3), name="image"), keras.Input((5,), name="meta")
    h = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(image))
    h = keras.layers.Concatenate()([h, keras.layers.Dense(4)(meta)])
    cls = keras.layers.Dense(3, activation="softmax", name="cls")(h)
    reg = keras.layers.Dense(1, name="reg")(h)
    inputs = {"image": image, "meta": meta} if as_dict else [image, meta]
    outputs = {"cls": cls, "reg": reg} if as_dict else [cls, reg]
    model = keras_mimo.convert(keras.Model(inputs, outputs), 2, ensemble_method="mean")
    mimo_inputs = [l for l in model.layers if isinstance(l, keras_mimo.MIMOInput)]
    assert len(mimo_inputs) == 2
    assert [tuple(t.shape) for t in model.inputs] == [(None, 8, 8, 3), (None, 5)]
    rng = np.random.default_rng(0)
    x = [rng.random((6, 8, 8, 3)).astype("float32"), rng.random((6, 5)).astype("float32")]
    if as_dict:
        x = {"image": x[0], "meta": x[1]}
    pred = model.predict(x, verbose=0)
    cls_pred, reg_pred = (pred["cls"], pred["reg"]) if as_dict else pred
    assert cls_pred.shape == (6, 3) and reg_pred.shape == (6, 1)
    y = (
        {"cls": rng.integers(0, 3, 6), "reg": rng.random((6, 1))}
        if as_dict
        else [rng.integers(0, 3, 6), rng.random((6, 1))]
    )
    model.compile(
        "adam",
        {"cls": "sparse_categorical_crossentropy", "reg": "mse"}
        if as_dict
        else ["sparse_categorical_crossentropy", "mse"],
    )
    assert np.isfinite(model.fit(x, y, epochs=1, verbose=0).history["loss"][0])


def test_an_output_without_final_dense_is_named_with_what_to_do():
    inputs = keras.Input((4,))
    h = keras.layers.Dense(4)(inputs)
    outputs = [keras.layers.Dense(3, name="ok")(h), keras.layers.Activation("sigmoid", name="act")(h)]
    with pytest.raises(ValueError, match=r"Activation layer 'act'.*End that output in a Dense layer"):
        keras_mimo.convert(keras.Model(inputs, outputs), 2)


def classifier_and_regressor(as_dict):
    inputs = keras.Input((5,))
    h = keras.layers.Dense(8, activation="relu")(inputs)
    cls, price = keras.layers.Dense(3, name="cls")(h), keras.layers.Dense(1, name="price")(h)
    return keras.Model(inputs, {"c": cls, "p": price} if as_dict else [cls, price])


def test_a_one_unit_linear_output_is_named_in_the_error():
    with pytest.raises(ValueError, match="'price'.*ambiguous"):
        keras_mimo.convert(classifier_and_regressor(False), 2)


@pytest.mark.parametrize(
    "as_dict,methods,expected",
    [
        (False, [None, "mean"], ["softmax_logits", "mean"]),
        (False, ("softmax_logits", "gaussian"), ["softmax_logits", "gaussian"]),
        (True, {"c": None, "p": "gaussian"}, {"c": "softmax_logits", "p": "gaussian"}),
    ],
)
def test_ensemble_method_per_output(as_dict, methods, expected):
    model = keras_mimo.convert(classifier_and_regressor(as_dict), 2, ensemble_method=methods)
    assert model.ensemble_method == expected
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    out = model.predict(x, verbose=0)
    widths = [o.shape[-1] for o in (out.values() if as_dict else out)]
    assert sorted(widths) == sorted([3, 2 if "gaussian" in str(methods) else 1])


@pytest.mark.parametrize(
    "as_dict,methods,match",
    [
        (True, ["mean", "mean"], "structure"),
        (True, {"c": None}, "every output"),
        (False, ["mean"], "one method per output"),
        (False, {"cls": None, "price": "mean"}, "structure"),
    ],
)
def test_a_mismatched_ensemble_method_structure_is_refused(as_dict, methods, match):
    with pytest.raises(ValueError, match=match):
        keras_mimo.convert(classifier_and_regressor(as_dict), 2, ensemble_method=methods)


def padded_stem_cnn():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.ZeroPadding2D(1, name="pad")(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="stem")(x)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, name="trunk")(x))
    return keras.Model(inputs, keras.layers.Dense(5, activation="softmax", name="probs")(x))


def test_mixing_turns_the_path_to_the_first_trainable_layer_into_member_encoders():
    model = keras_mimo.convert(padded_stem_cnn(), 3, mixing="cut", seed=2)
    mixer = model.get_layer("mixmo_input")
    assert isinstance(mixer, keras_mimo.MixMoInput) and (mixer.mixing, mixer.seed) == ("cut", 2)
    assert not any(type(l) is keras_mimo.MIMOInput for l in model.layers)
    assert len(mixer.encoders) == 3 and len({id(e) for e in mixer.encoders}) == 3
    for encoder in mixer.encoders:  # the padding travels with the stem it feeds
        assert [type(l).__name__ for l in encoder.layers] == ["ZeroPadding2D", "Conv2D"]
        assert encoder.layers[1].kernel.shape == (3, 3, 3, 4)  # each member's own stem, 3 channels in
    assert "stem" not in [l.name for l in model.layers] and model.get_layer("trunk").kernel.shape[2] == 4
    rng = np.random.default_rng(0)
    x, y = rng.random((24, 8, 8, 3)).astype("float32"), rng.integers(0, 5, 24)
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[keras_mimo.MixMoSchedule(2)])
    assert np.all(np.isfinite(history.history["loss"]))
    assert model.predict_members(x[:4], verbose=0).shape == (4, 3, 5)


def test_mixing_converts_a_sequential_model_and_saves(tmp_path):
    seq = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3), keras.layers.Flatten(), keras.layers.Dense(3)]
    )
    model = keras_mimo.convert(seq, 2, mixing="linear")
    assert [type(l).__name__ for l in model.layers] == ["InputLayer", "MixMoInput", "Flatten", "MIMOHead"]
    x = np.random.default_rng(1).random((4, 8, 8, 3)).astype("float32")
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "base,mixing,match",
    [
        (padded_stem_cnn, "mix", r"`mixing` must be None or one of \('cut', 'linear'\)"),
        (small_cnn, "cut", r"single chain; 'keras_tensor.*' feeds \['conv2d.*', 'conv2d.*'\]"),
        (lambda: keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)]), "linear", "output layer 'dense"),
    ],
)
def test_mixing_refuses_what_it_cannot_mix(base, mixing, match):
    with pytest.raises(ValueError, match=match):
        keras_mimo.convert(base(), 2, mixing=mixing)
