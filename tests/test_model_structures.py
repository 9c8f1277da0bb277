"""MIMOModel on model shapes beyond one input and one output: several inputs,
several outputs, masked sequences, nested backbones."""

import keras
import numpy as np
import pytest

from tests.testing import tiny_resnet_backbone

import keras_mimo


def noisy_one_hot(labels, classes, rng):
    x = np.eye(classes, dtype="float32")[labels] + rng.normal(0, 0.1, (len(labels), classes))
    return x.astype("float32")


def pair_data(n, seed=0):
    """Two inputs whose label needs both: y = (class of a + class of b) % 4."""
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, 4, n), rng.integers(0, 4, n)
    return noisy_one_hot(i, 4, rng), noisy_one_hot(j, 4, rng), ((i + j) % 4).astype("int32")


def two_input_model(ensemble_size=2, as_dict=False, **kwargs):
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    # a layer before a MIMOInput runs on the stacked rows, shared by members
    ha = keras_mimo.MIMOInput(ensemble_size)(keras.layers.Dense(4, name="pre_a")(a))
    hb = keras_mimo.MIMOInput(ensemble_size)(b)
    h = keras.layers.Concatenate()([ha, hb])
    h = keras.layers.Dense(64, activation="relu")(h)
    h = keras.layers.Dense(64, activation="relu")(h)
    out = keras_mimo.MIMOHead(4, ensemble_size, activation="softmax")(h)
    inputs = {"a": a, "b": b} if as_dict else [a, b]
    return keras_mimo.MIMOModel(inputs, out, **kwargs)


def test_every_input_target_and_weight_is_gathered_with_the_same_indices():
    model = two_input_model(ensemble_size=3, batch_repetitions=2, seed=1)
    ids = np.arange(8, dtype="float32")
    x = [np.stack([ids] * 4, 1), np.stack([ids * 10] * 4, 1)]
    (sa, sb), sy, sw = (
        keras.tree.map_structure(keras.ops.convert_to_numpy, t)
        for t in model.form_training_batch((x, ids.astype("int32"), ids + 100))
    )
    assert sa.shape == (3 * 2 * 8, 4)
    np.testing.assert_array_equal(sa[:, 0], sy)
    np.testing.assert_array_equal(sb[:, 0], sy * 10)
    np.testing.assert_array_equal(sw, sy + 100)


@pytest.mark.parametrize("as_dict", [False, True])
def test_each_member_answers_for_its_own_pair_of_inputs(as_dict):
    a, b, y = pair_data(2048)
    model = two_input_model(as_dict=as_dict, seed=0, batch_repetitions=2)
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    x = {"a": a, "b": b} if as_dict else [a, b]
    model.fit(x, y, batch_size=64, epochs=10, verbose=0)
    ta, tb, ty = pair_data(256, seed=1)
    shift = np.roll(np.arange(256), 1)
    # member 0 sees (a, b), member 1 sees another example's pair
    per_member = [np.stack([ta, ta[shift]], 1), np.stack([tb, tb[shift]], 1)]
    members = model.predict_members({"a": per_member[0], "b": per_member[1]} if as_dict else per_member, verbose=0)
    assert members.shape == (256, 2, 4)
    assert np.mean(ty != ty[shift]) > 0.6
    assert np.mean(members[:, 0].argmax(-1) == ty) > 0.9
    assert np.mean(members[:, 1].argmax(-1) == ty[shift]) > 0.9
    # inputs may mix forms: b shared by both members, a per member
    mixed = model.predict_members([per_member[0], tb] if not as_dict else {"a": per_member[0], "b": tb}, verbose=0)
    assert mixed.shape == (256, 2, 4)
    ensemble = model.predict(x={"a": ta, "b": tb} if as_dict else [ta, tb], verbose=0)
    assert np.mean(ensemble.argmax(-1) == ty) > 0.9


def two_output_model(ensemble_size=2, zero_heads=False, as_dict=False, rho=0.0):
    inputs = keras.Input((4,))
    h = keras_mimo.MIMOInput(ensemble_size)(inputs)
    h = keras.layers.Dense(32, activation="relu")(h)
    init = "zeros" if zero_heads else "glorot_uniform"
    cls = keras_mimo.MIMOHead(4, ensemble_size, activation="softmax", kernel_initializer=init, name="cls")(h)
    reg = keras_mimo.MIMOHead(1, ensemble_size, ensemble_method="mean", kernel_initializer=init, name="reg")(h)
    outputs = {"cls": cls, "reg": reg} if as_dict else [cls, reg]
    return keras_mimo.MIMOModel(inputs, outputs, input_repetition_probability=rho, seed=0)


@pytest.mark.parametrize("ensemble_size", [1, 3])
@pytest.mark.parametrize("as_dict", [False, True])
def test_training_loss_with_zeroed_heads_is_m_times_the_weighted_output_losses(ensemble_size, as_dict):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    y_cls, y_reg = rng.integers(0, 4, 32), rng.normal(size=(32, 1)).astype("float32")
    model = two_output_model(ensemble_size, zero_heads=True, as_dict=as_dict, rho=1.0)
    losses = ["sparse_categorical_crossentropy", "mse"]
    weights = [1.0, 0.5]
    if as_dict:
        losses, weights = dict(zip(["cls", "reg"], losses)), dict(zip(["cls", "reg"], weights))
    model.compile(keras.optimizers.SGD(0.0), loss=losses, loss_weights=weights)
    y = {"cls": y_cls, "reg": y_reg} if as_dict else [y_cls, y_reg]
    loss = model.train_on_batch(x, y)
    loss = loss[0] if isinstance(loss, list) else loss
    expected = ensemble_size * (np.log(4) + 0.5 * np.mean(y_reg**2))
    np.testing.assert_allclose(loss, expected, rtol=1e-4)


def test_multi_output_predict_evaluate_and_members_keep_the_structure():
    rng = np.random.default_rng(1)
    y_cls = rng.integers(0, 4, 512)
    x = noisy_one_hot(y_cls, 4, rng)
    y_reg = (y_cls.astype("float32") - 1.5)[:, None]
    model = two_output_model(as_dict=True)
    model.compile(
        keras.optimizers.Adam(0.01),
        {"cls": "sparse_categorical_crossentropy", "reg": "mse"},
        metrics={"cls": ["accuracy"]},
    )
    model.fit(x, {"cls": y_cls, "reg": y_reg}, batch_size=32, epochs=8, verbose=0)
    assert model.ensemble_method == {"cls": "mean", "reg": "mean"}
    pred = model.predict(x, verbose=0)
    members = model.predict_members(x, verbose=0)
    assert set(pred) == {"cls", "reg"} and pred["cls"].shape == (512, 4) and pred["reg"].shape == (512, 1)
    assert members["cls"].shape == (512, 2, 4) and members["reg"].shape == (512, 2, 1)
    np.testing.assert_allclose(pred["cls"], members["cls"].mean(1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pred["reg"], members["reg"].mean(1), rtol=1e-5, atol=1e-5)
    result = model.evaluate(x, {"cls": y_cls, "reg": y_reg}, verbose=0, return_dict=True)
    np.testing.assert_allclose(result["cls_accuracy"], np.mean(pred["cls"].argmax(-1) == y_cls), atol=1e-6)
    # each head's member m follows member m's own input
    shift = np.roll(np.arange(512), 1)
    per_member = np.stack([x, x[shift]], 1)
    own = model.predict_members(per_member, verbose=0)
    assert np.mean(own["cls"][:, 1].argmax(-1) == y_cls[shift]) > 0.9
    assert np.mean(np.abs(own["reg"][:, 1, 0] - y_reg[shift, 0])) < 0.5


def masked_text_model(pooling):
    tokens = keras.Input((None,), dtype="int32")
    h = keras.layers.Embedding(20, 8, mask_zero=True)(tokens)
    h = keras_mimo.MIMOInput(2)(h)
    if pooling == "lstm":
        h = keras.layers.LSTM(8)(h)
    elif pooling == "attention":
        h = keras.layers.MultiHeadAttention(2, 4)(h, h)
        h = keras.layers.GlobalAveragePooling1D()(h)
    else:
        h = keras.layers.GlobalAveragePooling1D()(h)
    return keras_mimo.MIMOModel(tokens, keras_mimo.MIMOHead(3, 2, activation="softmax")(h))


def test_mimo_input_mask_is_the_or_of_the_members_masks():
    layer = keras_mimo.MIMOInput(2)
    mask = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0], [1, 1, 1, 0]], bool)  # members x rows 2
    out = keras.ops.convert_to_numpy(layer.compute_mask(np.zeros((4, 4, 3)), mask))
    np.testing.assert_array_equal(out, [[1, 1, 0, 0], [1, 1, 1, 0]])  # row n: member 0 OR member 1
    assert layer.compute_mask(np.zeros((4, 4, 3)), None) is None


@pytest.mark.parametrize("pooling", ["average", "lstm", "attention"])
def test_predictions_do_not_change_when_padding_is_appended(pooling):
    model = masked_text_model(pooling)
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 20, (6, 5)).astype("int32")
    tokens[:3, 3:] = 0
    padded = np.concatenate([tokens, np.zeros((6, 4), "int32")], axis=1)
    np.testing.assert_allclose(model.predict(padded, verbose=0), model.predict(tokens, verbose=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        model.predict_members(padded, verbose=0), model.predict_members(tokens, verbose=0), rtol=1e-5, atol=1e-6
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit(padded, np.arange(6) % 3, batch_size=3, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def sequence_tagger(ensemble_size=2):
    """Embedding(mask_zero) -> MIMOInput -> LSTM(return_sequences) -> MIMOHead: a label per token."""
    tokens = keras.Input((None,), dtype="int32")
    h = keras.layers.Embedding(20, 8, mask_zero=True)(tokens)
    h = keras_mimo.MIMOInput(ensemble_size)(h)
    h = keras.layers.LSTM(8, return_sequences=True)(h)
    outputs = keras_mimo.MIMOHead(5, ensemble_size, activation="softmax")(h)
    model = keras_mimo.MIMOModel(tokens, outputs, seed=0)
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    return model


def tagging_data():
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 20, (8, 6)).astype("int32")
    lengths = np.array([6, 3, 4, 2, 6, 5, 1, 3])
    tokens[np.arange(6)[None, :] >= lengths[:, None]] = 0
    labels = (tokens % 5).astype("int32")
    return tokens, labels


def test_sequence_heads_mask_padding_in_evaluate_as_keras_does():
    model = sequence_tagger()
    tokens, labels = tagging_data()
    model.fit(tokens, labels, epochs=30, verbose=0)  # away from uniform predictions
    probs = model.predict(tokens, verbose=0)
    valid = tokens != 0
    nll = -np.log(np.take_along_axis(probs, labels[..., None], -1)[..., 0])
    expected = nll[valid].mean()  # Keras's masked mean: padded positions carry no weight
    assert abs(nll.mean() - expected) > 1e-3  # the unmasked mean differs: the test can fail
    assert model.evaluate(tokens, labels, batch_size=8, verbose=0) == pytest.approx(expected, rel=1e-4)
    padded = np.concatenate([tokens, np.zeros((8, 4), "int32")], 1)
    padded_labels = np.concatenate([labels, np.zeros((8, 4), "int32")], 1)
    assert model.evaluate(padded, padded_labels, batch_size=8, verbose=0) == pytest.approx(expected, rel=1e-4)


def test_each_members_training_loss_is_masked_by_its_own_inputs_mask():
    tokens, labels = tagging_data()
    padded = np.concatenate([tokens, np.zeros((8, 4), "int32")], 1)
    padded_labels = np.concatenate([labels, np.zeros((8, 4), "int32")], 1)
    losses = []
    for x, y in ((tokens, labels), (padded, padded_labels)):
        keras.utils.set_random_seed(0)
        model = sequence_tagger()
        losses.append(model.train_on_batch(x, y))
    # same initial weights and shuffling; appended padding changes nothing
    assert losses[1] == pytest.approx(losses[0], rel=1e-4)
    # the members' loss = the sum of their masked means (against a model with the member masks by hand)
    keras.utils.set_random_seed(0)
    model = sequence_tagger()
    x, y = model.form_training_batch((tokens, labels))
    with model.stacked_rows():  # what train_step does
        y_pred = model(x, training=False)
        loss = float(keras.ops.convert_to_numpy(model.compute_loss(x=x, y=y, y_pred=y_pred, training=True)))
    stacked, x, y = (keras.ops.convert_to_numpy(t) for t in (y_pred, x, y))
    nll = -np.log(np.take_along_axis(stacked, y[..., None], -1)[..., 0])
    per_member = [nll[m::2][x[m::2] != 0].mean() for m in range(2)]  # example-major: member m's rows are [m::M]
    assert loss == pytest.approx(sum(per_member), rel=1e-4)


class _Block(keras.layers.Layer):
    """A subclassed backbone used as a layer."""

    def __init__(self, units=16, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.first = keras.layers.Dense(units, activation="relu")
        self.second = keras.layers.Dense(units, activation="relu")

    def call(self, x):
        return self.second(self.first(x))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class _Tower(keras.Model):
    """A subclassed backbone model used as a layer."""

    def __init__(self, units=16, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.hidden = keras.layers.Dense(units, activation="relu")

    def call(self, x):
        return self.hidden(x)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def test_a_mimo_input_inside_a_nested_stem_after_preprocessing_trains_predicts_saves_and_loads(tmp_path):
    # the layout `convert()` builds: per-member preprocessing on the stacked rows, the split inside a nested stem
    stem = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras_mimo.MIMOInput(2),
            keras.layers.Conv2D(4, 2, strides=2),
            keras.layers.LayerNormalization(),
        ],
        name="stem",
    )
    images = keras.Input((8, 8, 3))
    h = stem(keras.layers.Normalization(mean=[0.1, 0.2, 0.3], variance=[1.0, 2.0, 3.0])(images))
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras_mimo.MIMOModel(images, keras_mimo.MIMOHead(3, 2, activation="softmax")(h), seed=0)
    assert model.ensemble_size == 2
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 8, 8, 3)).astype("float32"), rng.integers(0, 3, 8)
    model.compile("adam", "sparse_categorical_crossentropy")
    assert np.isfinite(model.fit(x, y, batch_size=8, epochs=1, verbose=0).history["loss"][0])
    model.save(tmp_path / "stem.keras")
    loaded = keras.models.load_model(tmp_path / "stem.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert loaded.predict_members(x, verbose=0).shape == (8, 2, 3)


@pytest.mark.parametrize("backbone", ["functional", "subclassed_layer", "subclassed_model"])
def test_nested_backbones_train_predict_save_and_load(backbone, tmp_path, readable_data):
    if backbone == "functional":
        inner_in = keras.Input((8,))
        inner = keras.Model(inner_in, keras.layers.Dense(16, activation="relu")(inner_in), name="backbone")
    elif backbone == "subclassed_layer":
        inner = _Block(name="backbone")
    else:
        inner = _Tower(name="backbone")
    inputs = keras.Input((4,))
    h = inner(keras_mimo.MIMOInput(2)(inputs))
    model = keras_mimo.MIMOModel(inputs, keras_mimo.MIMOHead(4, 2, activation="softmax")(h), seed=3)
    x, y = readable_data(64)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    path = tmp_path / "nested.keras"
    model.save(path)
    loaded = keras.models.load_model(path, custom_objects={"_Block": _Block, "_Tower": _Tower})
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(loaded.predict_members(x, verbose=0), model.predict_members(x, verbose=0), rtol=1e-6)


def test_multi_input_multi_output_save_and_load(tmp_path):
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    h = keras.layers.Concatenate()([keras_mimo.MIMOInput(2)(a), keras_mimo.MIMOInput(2)(b)])
    h = keras.layers.Dense(16, activation="relu")(h)
    outputs = [keras_mimo.MIMOHead(4, 2, activation="softmax")(h), keras_mimo.MIMOHead(2, 2)(h)]
    model = keras_mimo.MIMOModel([a, b], outputs, batch_repetitions=2, seed=7)
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(20, 4)).astype("float32"), rng.normal(size=(20, 3)).astype("float32")]
    model.compile(
        "adam", ["sparse_categorical_crossentropy", keras.losses.SparseCategoricalCrossentropy(from_logits=True)]
    )
    model.fit(x, [rng.integers(0, 4, 20), rng.integers(0, 2, 20)], batch_size=10, epochs=1, verbose=0)
    model.save(tmp_path / "mio.keras")
    loaded = keras.models.load_model(tmp_path / "mio.keras")
    for got, want in zip(loaded.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    for got, want in zip(loaded.predict_members(x, verbose=0), model.predict_members(x, verbose=0)):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert loaded.ensemble_method == ["mean", "softmax_logits"]


# -- bad input -------------------------------------------------------------


def test_an_input_that_skips_its_mimo_input_is_named():
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="side")
    h = keras.layers.Concatenate()([keras_mimo.MIMOInput(2)(a), b])
    out = keras_mimo.MIMOHead(3, 2)(h)
    with pytest.raises(ValueError, match=r"'side'.*MIMOInput"):
        keras_mimo.MIMOModel([a, b], out)


def test_different_ensemble_sizes_are_named():
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    h = keras.layers.Concatenate()([keras_mimo.MIMOInput(2, name="in_a")(a), keras_mimo.MIMOInput(3, name="in_b")(b)])
    with pytest.raises(ValueError, match=r"ensemble_size.*in_a.*2.*in_b.*3"):
        keras_mimo.MIMOModel([a, b], keras_mimo.MIMOHead(3, 2)(h))


def test_a_head_whose_output_is_not_a_model_output_is_named():
    inputs = keras.Input((4,))
    h = keras_mimo.MIMOInput(2)(inputs)
    hidden = keras_mimo.MIMOHead(8, 2, activation="relu", name="inner_head")(h)
    out = keras_mimo.MIMOHead(3, 2, activation="softmax", name="final")(keras.layers.Dense(4)(hidden))
    with pytest.raises(ValueError, match=r"'inner_head'.*not a model output"):
        keras_mimo.MIMOModel(inputs, out)


def test_an_output_that_is_not_a_head_is_named():
    inputs = keras.Input((4,))
    h = keras_mimo.MIMOInput(2)(inputs)
    outputs = [keras_mimo.MIMOHead(3, 2, activation="softmax")(h), keras.layers.Dense(2, name="plain")(h)]
    with pytest.raises(ValueError, match=r"'plain'.*MIMOHead"):
        keras_mimo.MIMOModel(inputs, outputs)


def test_per_member_inputs_with_the_wrong_member_axis_name_the_input():
    model = two_input_model(ensemble_size=2)
    with pytest.raises(ValueError, match=r"input 'b'.*\(N, 2, 4\)"):
        model.predict_members([np.zeros((5, 2, 4), "float32"), np.zeros((5, 3, 4), "float32")], verbose=0)


def test_keras_hub_backbone_trains_predicts_saves_and_loads(tmp_path):
    backbone = tiny_resnet_backbone(2 * 3)
    images = keras.Input((16, 16, 3))
    h = backbone(keras_mimo.MIMOInput(2)(images))
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras_mimo.MIMOModel(images, keras_mimo.MIMOHead(4, 2, activation="softmax")(h), batch_repetitions=2)
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 16, 16, 3)).astype("float32"), rng.integers(0, 4, 16)
    model.compile("adam", "sparse_categorical_crossentropy")
    assert np.isfinite(model.fit(x, y, batch_size=8, epochs=1, verbose=0).history["loss"][0])
    model.save(tmp_path / "hub.keras")
    loaded = keras.models.load_model(tmp_path / "hub.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert loaded.predict_members(x, verbose=0).shape == (16, 2, 4)


def test_dict_inputs_with_extra_keys_are_ignored_as_keras_does():
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    h = keras.layers.Concatenate()([keras_mimo.MIMOInput(2)(a), keras_mimo.MIMOInput(2)(b)])
    model = keras_mimo.MIMOModel({"a": a, "b": b}, keras_mimo.MIMOHead(3, 2, activation="softmax")(h), seed=0)
    model.compile("adam", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = {"a": rng.normal(size=(16, 4)).astype("float32"), "b": rng.normal(size=(16, 3)).astype("float32")}
    extra = {**x, "weight_feature": rng.normal(size=(16, 7)).astype("float32")}
    with pytest.warns(UserWarning, match="weight_feature"):
        np.testing.assert_allclose(model.predict(extra, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    with pytest.warns(UserWarning, match="weight_feature"):
        np.testing.assert_allclose(
            model.predict_members(extra, verbose=0), model.predict_members(x, verbose=0), rtol=1e-6
        )
    y = np.arange(16) % 3
    history = model.fit(extra, y, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert np.isfinite(model.evaluate(extra, y, verbose=0))
