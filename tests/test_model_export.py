"""Serving: `MIMOModel.export` and the traceable `call_members`."""

import keras
import numpy as np
import pytest

BACKEND = keras.backend.backend()


def test_call_members_matches_predict_members(cnn_mimo, image_data):
    x, _ = image_data
    model = cnn_mimo()
    members = keras.ops.convert_to_numpy(model.call_members(x))
    np.testing.assert_allclose(members, model.predict_members(x, verbose=0), rtol=1e-5, atol=1e-7)
    stacked = np.stack([x, x[::-1], x], axis=1)
    per_member = keras.ops.convert_to_numpy(model.call_members(stacked))
    np.testing.assert_allclose(per_member, model.predict_members(stacked, verbose=0), rtol=1e-5, atol=1e-7)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="SavedModel export is tested on TensorFlow")
def test_saved_model_serves_ensemble_and_members(cnn_mimo, image_data, tmp_path):
    import tensorflow as tf

    x, y = image_data
    model = cnn_mimo()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    model.export(str(tmp_path / "served"), verbose=False)
    served = tf.saved_model.load(str(tmp_path / "served"))
    np.testing.assert_allclose(served.serve(x).numpy(), model.predict(x, verbose=0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        served.serve_members(x).numpy(), model.predict_members(x, verbose=0), rtol=1e-5, atol=1e-7
    )


def multi_io_model():
    import keras_mimo

    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    h = keras.layers.Concatenate()([keras_mimo.MIMOInput(2)(a), keras_mimo.MIMOInput(2)(b)])
    h = keras.layers.Dense(8, activation="relu")(h)
    outputs = {
        "cls": keras_mimo.MIMOHead(4, 2, activation="softmax", name="cls")(h),
        "logits": keras_mimo.MIMOHead(3, 2, name="logits")(h),
    }
    return keras_mimo.MIMOModel([a, b], outputs)


def test_call_members_of_a_multi_input_multi_output_model():
    model = multi_io_model()
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(6, 4)).astype("float32"), rng.normal(size=(6, 2, 3)).astype("float32")]
    members = model.call_members(x)
    expected = model.predict_members(x, verbose=0)
    for key in ("cls", "logits"):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(members[key]), expected[key], rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="SavedModel export is tested on TensorFlow")
def test_saved_model_of_a_multi_input_multi_output_model(tmp_path):
    import tensorflow as tf

    model = multi_io_model()
    rng = np.random.default_rng(1)
    x = [rng.normal(size=(5, 4)).astype("float32"), rng.normal(size=(5, 3)).astype("float32")]
    model.export(str(tmp_path / "served"), verbose=False)
    served = tf.saved_model.load(str(tmp_path / "served"))
    ensemble, members = served.serve(x), served.serve_members(x)
    expected, expected_members = model.predict(x, verbose=0), model.predict_members(x, verbose=0)
    for key in ("cls", "logits"):
        np.testing.assert_allclose(ensemble[key].numpy(), expected[key], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(members[key].numpy(), expected_members[key], rtol=1e-5, atol=1e-6)


def test_a_mixmo_model_serves_like_it_predicts(tmp_path):
    """MixMoInput (one encoder per member, features summed at inference): call_members and, on TF, SavedModel."""
    import keras_mimo

    inputs = keras.Input((8, 8, 3))
    h = keras_mimo.MixMoInput(2, keras.layers.Conv2D(4, 3, padding="same"), seed=0)(inputs)
    h = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(6, 3, activation="relu")(h))
    model = keras_mimo.MIMOModel(inputs, keras_mimo.MIMOHead(3, 2, activation="softmax")(h), batch_repetitions=2)
    rng = np.random.default_rng(0)
    x, y = rng.random((12, 8, 8, 3)).astype("float32"), rng.integers(0, 3, 12)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=6, epochs=1, verbose=0)
    members = model.predict_members(x, verbose=0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.call_members(x)), members, rtol=1e-5, atol=1e-7)
    if BACKEND != "tensorflow":
        return
    import tensorflow as tf

    model.export(str(tmp_path / "served"), verbose=False)
    served = tf.saved_model.load(str(tmp_path / "served"))
    np.testing.assert_allclose(served.serve(x).numpy(), model.predict(x, verbose=0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(served.serve_members(x).numpy(), members, rtol=1e-5, atol=1e-7)
