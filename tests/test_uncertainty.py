"""`with_uncertainty`: one forward pass, outputs checked against numpy on `predict_members`."""

import keras
import numpy as np
import pytest

import keras_mimo
from tests.conftest import BACKEND
from tests.testing import optional_import


def classifier(units=4, activation=None, ensemble_size=3, name=None):
    inputs = keras.Input((6,))
    h = keras_mimo.MIMOInput(ensemble_size)(inputs)
    h = keras.layers.Dense(16, activation="tanh")(h)
    kwargs = {"ensemble_method": "sigmoid_logits"} if units == 1 and activation is None else {}
    outputs = keras_mimo.MIMOHead(units, ensemble_size, activation=activation, name=name, **kwargs)(h)
    return keras_mimo.MIMOModel(inputs, outputs)


def entropy(p):
    return -(p * np.log(np.clip(p, 1e-30, 1))).sum(-1)


def expected_classifier(members_probs):
    mean = members_probs.mean(1)
    total, aleatoric = entropy(mean), entropy(members_probs).mean(1)
    return {
        "probabilities": mean,
        "confidence": mean.max(-1),
        "predictive_entropy": total,
        "expected_entropy": aleatoric,
        "mutual_information": total - aleatoric,
    }


def as_probabilities(members, method):
    members = members.astype("float64")
    if method == "softmax_logits":
        e = np.exp(members - members.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)
    if method == "sigmoid_logits":
        members = 1 / (1 + np.exp(-members))
    if members.shape[-1] == 1:  # a binary classifier's p -> [1 - p, p]
        return np.concatenate([1 - members, members], -1)
    return members


def assert_dicts_close(got, expected, atol=2e-5):
    assert set(got) == set(expected)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-4, atol=atol, err_msg=key)


@pytest.mark.parametrize("units,activation", [(4, None), (4, "softmax"), (1, None), (1, "sigmoid")])
def test_classifier_outputs_equal_numpy_from_predict_members(units, activation):
    model = classifier(units, activation)
    x = np.random.default_rng(0).normal(0, 2, (64, 6)).astype("float32")
    got = keras_mimo.with_uncertainty(model).predict(x, verbose=0)
    members = as_probabilities(model.predict_members(x, verbose=0), model.ensemble_method)
    expected = expected_classifier(members)
    assert_dicts_close(got, expected)
    assert (got["mutual_information"] >= 0).all() and got["mutual_information"].max() > 1e-3


def gaussian_model(ensemble_size=3):
    inputs = keras.Input((6,))
    h = keras_mimo.MIMOInput(ensemble_size)(inputs)
    h = keras.layers.Dense(16, activation="tanh")(h)
    outputs = keras_mimo.MIMOHead(2, ensemble_size, ensemble_method="gaussian")(h)
    return keras_mimo.MIMOModel(inputs, outputs)


def test_gaussian_outputs_split_total_variance_into_aleatoric_and_epistemic():
    model = gaussian_model()
    x = np.random.default_rng(1).normal(0, 2, (50, 6)).astype("float32")
    got = keras_mimo.with_uncertainty(model).predict(x, verbose=0)
    members = model.predict_members(x, verbose=0).astype("float64")
    mu, sigma = members[..., :2], members[..., 2:]
    expected = {
        "mean": mu.mean(1),
        "aleatoric_std": np.sqrt((sigma**2).mean(1)),
        "epistemic_std": mu.std(1),
        "std": np.sqrt((sigma**2).mean(1) + mu.var(1)),
    }
    assert_dicts_close(got, expected, atol=1e-4)
    # the total std is the ensemble output's (moment-matched) std
    np.testing.assert_allclose(got["std"], model.predict(x, verbose=0)[:, 2:], rtol=1e-4)


def test_a_plain_model_and_a_deep_ensemble_are_served():
    inputs = keras.Input((6,))
    plain = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(inputs))
    x = np.random.default_rng(2).normal(size=(20, 6)).astype("float32")
    single = keras_mimo.with_uncertainty(plain).predict(x, verbose=0)
    np.testing.assert_allclose(single["probabilities"], plain.predict(x, verbose=0), rtol=1e-5)
    np.testing.assert_allclose(single["mutual_information"], 0.0, atol=1e-6)
    a, b = classifier(), classifier()
    got = keras_mimo.with_uncertainty([a, b]).predict(x, verbose=0)
    members = np.concatenate([as_probabilities(m.predict_members(x, verbose=0), "softmax_logits") for m in (a, b)], 1)
    assert_dicts_close(got, expected_classifier(members))


def test_several_outputs_give_one_dict_per_output_in_the_structure():
    inputs = keras.Input((6,))
    h = keras.layers.Dense(16, activation="tanh")(keras_mimo.MIMOInput(2)(inputs))
    outputs = {
        "label": keras_mimo.MIMOHead(3, 2, name="label")(h),
        "value": keras_mimo.MIMOHead(1, 2, ensemble_method="gaussian", name="value")(h),
    }
    model = keras_mimo.MIMOModel(inputs, outputs)
    x = np.random.default_rng(3).normal(size=(10, 6)).astype("float32")
    got = keras_mimo.with_uncertainty(model).predict(x, verbose=0)
    assert set(got) == {"label", "value"}
    assert set(got["label"]) == {
        "probabilities",
        "confidence",
        "predictive_entropy",
        "expected_entropy",
        "mutual_information",
    }
    assert set(got["value"]) == {"mean", "std", "aleatoric_std", "epistemic_std"}
    members = model.predict_members(x, verbose=0)
    assert_dicts_close(got["label"], expected_classifier(as_probabilities(members["label"], "softmax_logits")))


def test_a_head_that_averages_regression_values_is_named_in_the_error():
    inputs = keras.Input((6,))
    h = keras_mimo.MIMOInput(2)(inputs)
    model = keras_mimo.MIMOModel(
        inputs,
        [keras_mimo.MIMOHead(3, 2, name="cls")(h), keras_mimo.MIMOHead(1, 2, ensemble_method="mean", name="price")(h)],
    )
    with pytest.raises(ValueError, match="MIMOHead 'price'"):
        keras_mimo.with_uncertainty(model)


def test_saves_loads_and_exports(tmp_path):
    model = classifier()
    x = np.random.default_rng(4).normal(size=(12, 6)).astype("float32")
    wrapped = keras_mimo.with_uncertainty(model)
    expected = wrapped.predict(x, verbose=0)
    wrapped.save(tmp_path / "served.keras")
    restored = keras.models.load_model(tmp_path / "served.keras")
    assert_dicts_close(restored.predict(x, verbose=0), expected, atol=1e-6)
    tf = optional_import("tensorflow") if BACKEND in ("tensorflow", "jax") else None
    if tf is not None:  # SavedModel export needs TensorFlow (absent from a JAX-only install)
        wrapped.export(str(tmp_path / "saved"), verbose=False)
        served = tf.saved_model.load(str(tmp_path / "saved"))  # keep it: its variables die with it
        assert_dicts_close({k: np.asarray(v) for k, v in served.serve(x).items()}, expected, atol=1e-5)


@pytest.mark.skipif(BACKEND != "torch", reason="Keras's ONNX export is tried on the torch backend")
def test_onnx_export_serves_the_same_values(tmp_path):
    ort = pytest.importorskip("onnxruntime")  # not in CI's install; run in the peers virtualenv (docs/guide.md)
    pytest.importorskip("onnxscript")
    wrapped = keras_mimo.with_uncertainty(classifier())
    x = np.random.default_rng(5).normal(size=(4, 6)).astype("float32")
    expected = wrapped.predict(x, verbose=0)  # Keras exports only a model that has been called
    wrapped.export(str(tmp_path / "served.onnx"), format="onnx", verbose=False)
    session = ort.InferenceSession(str(tmp_path / "served.onnx"))
    got = session.run(None, {session.get_inputs()[0].name: x})
    # ONNX output names are generated: the dict's values come back in its flattened (sorted-key) order
    for value, key in zip(got, sorted(expected)):
        np.testing.assert_allclose(value, expected[key], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
@pytest.mark.parametrize("when", ["built_and_wrapped", "wrapped"])
def test_served_values_equal_predict_under_a_mixed_policy(policy, when):
    # The previous release computed the served dict in the policy's dtype: probabilities off `predict`'s by
    # 1.4-1.8e-3 (bfloat16); a model built in float32 and wrapped under the policy also had its inputs rounded.
    if when == "built_and_wrapped":
        keras.config.set_dtype_policy(policy)
    model, gaussian = classifier(activation="softmax"), gaussian_model()
    x = np.random.default_rng(6).normal(0, 2, (64, 6)).astype("float32")
    probs, pred = model.predict(x, verbose=0), gaussian.predict(x, verbose=0)
    expected = expected_classifier(as_probabilities(model.predict_members(x, verbose=0), "mean"))
    keras.config.set_dtype_policy(policy)
    served = keras_mimo.with_uncertainty(model)
    got = served.predict(x, verbose=0)
    np.testing.assert_allclose(got["probabilities"], probs, atol=1e-6)
    assert_dicts_close(got, expected, atol=1e-5)
    got = keras_mimo.with_uncertainty(gaussian).predict(x, verbose=0)
    np.testing.assert_allclose(np.concatenate([got["mean"], got["std"]], -1), pred, rtol=1e-5, atol=1e-6)
    assert {layer.dtype_policy.name for layer in served.layers[1:]} == {"float32"}


def test_the_uncertainty_layers_refuse_members_without_a_member_axis_or_odd_gaussian_columns():
    probs = np.full((4, 3), 1 / 3, "float32")
    with pytest.raises(ValueError, match=r"`members` of ClassifierUncertainty .* shape \(4, 3\)"):
        keras_mimo.uncertainty.ClassifierUncertainty()(probs)
    with pytest.raises(ValueError, match=r"`members` .* even number .* shape \(4, 2, 3\)"):
        keras_mimo.uncertainty.GaussianUncertainty()(np.ones((4, 2, 3), "float32"))
