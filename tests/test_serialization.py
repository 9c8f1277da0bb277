"""Every class registered under `keras_mimo>` round-trips through Keras serialization.

One case per registered name; a class registered without a case fails
`test_every_registered_class_has_a_case`, so a new class cannot skip this.
"""

import keras
import numpy as np
import pytest

import keras_mimo
from keras_mimo import ensembles
from keras_mimo import calibration
from keras_mimo import conformal
from keras_mimo import uncertainty
from keras_mimo.applications.schedules import WarmUpStepDecay
from keras_mimo.applications.virtual_batch_norm import VirtualBatchNormalization
from keras_mimo.layers.mimo_input import MemberRows
from tests.testing import run_layer_test
from tests.testing import run_saving_test
from tests.testing import run_serialization_test

RNG = np.random.default_rng(0)
PROBS = RNG.dirichlet(np.ones(4), 6).astype("float32")
GAUSSIAN = np.concatenate([RNG.normal(size=(6, 2)), RNG.uniform(0.5, 1.5, (6, 2))], -1).astype("float32")
MEMBER_PROBS = RNG.dirichlet(np.ones(4), (6, 3)).astype("float32")
MEMBER_GAUSSIANS = np.concatenate([RNG.normal(size=(6, 3, 2)), RNG.uniform(0.5, 1.5, (6, 3, 2))], -1).astype("float32")


def tiny_mimo():
    inputs = keras.Input((3,))
    h = keras.layers.Dense(8, activation="relu")(keras_mimo.MIMOInput(2)(inputs))
    model = keras_mimo.MIMOModel(inputs, keras_mimo.MIMOHead(4, 2, activation="softmax")(h), seed=1)
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def layer_case(cls, kwargs, data, shape, train=True):
    return lambda tmp_path: run_layer_test(cls, kwargs, data, shape, run_training_check=train)


def _mimo_model(tmp_path):
    model = tiny_mimo()
    x = RNG.normal(size=(8, 3)).astype("float32")
    model.fit(x, np.arange(8) % 4, epochs=1, verbose=0)
    run_saving_test(model, x, tmp_path, predict=lambda m, v: m.predict_members(v, verbose=0))


def _mixmo_input(tmp_path):
    inputs = keras.Input((6, 6, 3))
    x = keras_mimo.MixMoInput(2, keras.layers.Conv2D(4, 3, padding="same"), mixing="cut", alpha=1.5, seed=2)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras_mimo.MIMOModel(inputs, keras_mimo.MIMOHead(3, 2, activation="softmax")(x), seed=1)
    model.compile("adam", "sparse_categorical_crossentropy")
    data = RNG.random((8, 6, 6, 3)).astype("float32")
    model.fit(data, np.arange(8) % 3, epochs=1, verbose=0)
    layer = model.layers[1]
    revived = run_serialization_test(layer)
    assert (revived.mixing, revived.alpha, revived.seed) == ("cut", 1.5, 2)
    run_saving_test(model, data, tmp_path, predict=lambda m, v: m.predict_members(v, verbose=0))


def _ensemble(tmp_path):
    model = tiny_mimo()
    layer = ensembles.Ensemble([model], ["mean"], "probabilities")
    revived = run_serialization_test(layer)
    x = RNG.normal(size=(5, 3)).astype("float32")
    revived.models[0].set_weights(model.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(revived(x)), keras.ops.convert_to_numpy(layer(x)), rtol=1e-6)
    wrapper = conformal.with_prediction_sets(model, 0.5)  # a model around the layer saves too
    run_saving_test(wrapper, x, tmp_path)


def _member_rows(tmp_path):
    op = MemberRows(3)
    revived = run_serialization_test(op)
    stacked = np.arange(12.0).reshape(6, 2)
    for a, b, m in zip(revived(stacked), op(stacked), range(3)):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, stacked[m::3])


def _value_case(obj, *args):
    """A loss or metric: the revived object computes the same value."""

    def run(tmp_path):
        revived = run_serialization_test(obj)
        if hasattr(obj, "update_state"):
            obj.update_state(*args)
            revived.update_state(*args)
            np.testing.assert_allclose(revived.result(), obj.result(), rtol=1e-6)
        else:
            np.testing.assert_allclose(revived(*args), obj(*args), rtol=1e-6)

    return run


LABELS = np.arange(6) % 4
TARGETS = RNG.normal(size=(6, 2)).astype("float32")

CASES = {
    "keras_mimo>MIMOInput": layer_case(
        keras_mimo.MIMOInput, {"ensemble_size": 2}, np.ones((6, 3), "float32"), (3, 6), False
    ),
    "keras_mimo>MIMOHead": layer_case(
        keras_mimo.MIMOHead, {"units": 4, "ensemble_size": 2}, np.ones((3, 5), "float32"), (6, 4), False
    ),
    "keras_mimo>MIMOModel": _mimo_model,
    "keras_mimo>MixMoInput": _mixmo_input,
    "keras_mimo>MemberRows": _member_rows,
    "keras_mimo>Ensemble": _ensemble,
    "keras_mimo>TemperatureScaling": layer_case(calibration.TemperatureScaling, {"temperature": 2.0}, PROBS, (6, 4)),
    "keras_mimo>StdScaling": layer_case(calibration.StdScaling, {"scale": 1.5}, GAUSSIAN, (6, 4)),
    "keras_mimo>PredictionSets": layer_case(
        conformal.PredictionSets, {"threshold": 0.7, "score": "raps", "lam": 0.1, "k_reg": 1}, PROBS, (6, 4)
    ),
    "keras_mimo>PredictionIntervals": layer_case(conformal.PredictionIntervals, {"quantile": 1.6}, GAUSSIAN, (6, 4)),
    "keras_mimo>ClassifierUncertainty": layer_case(
        uncertainty.ClassifierUncertainty,
        {},
        MEMBER_PROBS,
        {
            "probabilities": (6, 4),
            "confidence": (6,),
            "predictive_entropy": (6,),
            "expected_entropy": (6,),
            "mutual_information": (6,),
        },
        False,
    ),
    "keras_mimo>GaussianUncertainty": layer_case(
        uncertainty.GaussianUncertainty,
        {},
        MEMBER_GAUSSIANS,
        {"mean": (6, 2), "std": (6, 2), "aleatoric_std": (6, 2), "epistemic_std": (6, 2)},
        False,
    ),
    "keras_mimo>VirtualBatchNormalization": layer_case(
        VirtualBatchNormalization, {"virtual_batch_size": 2}, RNG.normal(size=(4, 3)).astype("float32"), (4, 3)
    ),
    "keras_mimo>WarmUpStepDecay": lambda tmp_path: run_serialization_test(WarmUpStepDecay(0.1, 10, [20, 30])),
    "keras_mimo>GaussianNLL": _value_case(keras_mimo.losses.GaussianNLL(), TARGETS[:, :1], GAUSSIAN[:, [0, 2]]),
    "keras_mimo>GaussianNLLMetric": _value_case(keras_mimo.metrics.GaussianNLL(), TARGETS[:, :1], GAUSSIAN[:, [0, 2]]),
    "keras_mimo>CRPS": _value_case(keras_mimo.metrics.CRPS(), TARGETS[:, :1], GAUSSIAN[:, [0, 2]]),
    "keras_mimo>BrierScore": _value_case(keras_mimo.metrics.BrierScore(), LABELS, PROBS),
    "keras_mimo>NegativeLogLikelihood": _value_case(keras_mimo.metrics.NegativeLogLikelihood(), LABELS, PROBS),
    "keras_mimo>ExpectedCalibrationError": _value_case(keras_mimo.metrics.ExpectedCalibrationError(5), LABELS, PROBS),
}


def registered_names() -> set:
    return {name for name in keras.saving.get_custom_objects() if name.startswith("keras_mimo>")}


def test_every_registered_class_has_a_case():
    assert registered_names() == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_registered_class_round_trips(name, tmp_path):
    CASES[name](tmp_path)
