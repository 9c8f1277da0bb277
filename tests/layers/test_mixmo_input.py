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
    with model.stacked_rows():
        y_pred = model(x_rows, training=True)
        weights = keras.ops.convert_to_numpy(keras_mimo._layout.pop_loss_weights())
        keras_mimo._layout.record_loss_weights(keras.ops.convert_to_tensor(weights))
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
