"""Writes the wrapper fixture: `.keras` files of the post-hoc wrappers saved before the `ensembles` core.

Run once, at commit a2b3166 (keras-mimo 0.1.x, the private `keras_mimo>Ensemble`
layer), from the repository root:

    KERAS_BACKEND=torch PYTHONPATH=. python tests/data/wrappers/make_wrapper_files.py

tests/test_previous_release_files.py loads every file and checks that it
predicts what `outputs.npz` holds.
"""

import pathlib

import keras
import numpy as np

import keras_mimo
from keras_mimo import calibration
from keras_mimo import conformal

HERE = pathlib.Path(__file__).resolve().parent


def mimo(activation, units, method=None):
    inputs = keras.Input((4,))
    x = keras_mimo.MIMOInput(2)(inputs)
    x = keras.layers.Dense(8, activation="relu")(x)
    head = keras_mimo.MIMOHead(units, 2, activation=activation, ensemble_method=method)(x)
    return keras_mimo.MIMOModel(inputs, head)


def plain(units, activation=None):
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(units, activation=activation)(inputs))


def positive_std(model):
    inputs = keras.Input((4,))
    raw = model(inputs)
    mean, std = raw[:, :1], keras.ops.softplus(raw[:, 1:]) + 0.1
    return keras.Model(inputs, keras.layers.Concatenate()([mean, std]))


def main():
    keras.utils.set_random_seed(0)
    classifier = mimo("softmax", 3)
    logits = mimo(None, 3)
    gaussian = mimo(None, 1, "gaussian")
    deep = [plain(3, "softmax"), plain(3, "softmax")]
    gaussians = [positive_std(plain(2)), positive_std(plain(2))]
    wrappers = {
        "temperature_mimo": calibration.with_temperature(classifier, 1.7),
        "temperature_logits": calibration.with_temperature(logits, 0.6),
        "temperature_deep": calibration.with_temperature(deep, 2.0),
        "std_scale_deep": calibration.with_std_scale(gaussians, 1.3),
        "uncertainty_mimo": keras_mimo.with_uncertainty(classifier),
        "uncertainty_gaussian": keras_mimo.with_uncertainty(gaussian),
        "uncertainty_deep": keras_mimo.with_uncertainty(deep),
        "sets_mimo": conformal.with_prediction_sets(classifier, 0.8, "raps", lam=0.1, k_reg=1),
        "sets_deep": conformal.with_prediction_sets(deep, 0.7),
        "intervals_gaussian": conformal.with_prediction_intervals(gaussian, 1.6),
    }
    x = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    outputs = {"x": x}
    for name, model in wrappers.items():
        model.save(HERE / f"{name}.keras")
        predicted = model.predict(x, verbose=0)
        if isinstance(predicted, dict):
            for key, value in predicted.items():
                outputs[f"{name}/{key}"] = value
        else:
            outputs[name] = predicted
    np.savez(HERE / "outputs.npz", **outputs)


if __name__ == "__main__":
    main()
