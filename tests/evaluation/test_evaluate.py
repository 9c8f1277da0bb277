import json

import keras
import numpy as np
import pytest

import keras_mimo


def plain_model(seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(4, activation="softmax")]
    )


@pytest.fixture
def data(readable_data):
    return readable_data(60, seed=3)


def test_mimo_model_scores_match_its_member_predictions(mlp_mimo, data):
    x, y = data
    model = mlp_mimo(ensemble_size=3)
    results = keras_mimo.evaluate_ensemble(model, x, y, verbose=0)
    members = model.predict_members(x, verbose=0).astype("float64")
    mean = members.mean(1)
    assert results["ensemble_size"] == 3 and results["num_examples"] == 60
    np.testing.assert_allclose(results["accuracy"], np.mean(mean.argmax(1) == y))
    np.testing.assert_allclose(results["nll"], -np.mean(np.log(mean[np.arange(60), y])), rtol=1e-5)
    np.testing.assert_allclose(results["member_accuracy"], [np.mean(members[:, m].argmax(1) == y) for m in range(3)])
    assert results["disagreement"] is not None and 0.0 <= results["disagreement"] <= 1.0
    json.dumps(results)


def test_mimo_model_runs_one_prediction_call(mlp_mimo, data, monkeypatch):
    x, y = data
    model = mlp_mimo()
    calls = []
    original = model.predict_members
    monkeypatch.setattr(model, "predict", lambda *a, **k: calls.append("predict"))
    monkeypatch.setattr(model, "predict_members", lambda *a, **k: calls.append("members") or original(*a, **k))
    keras_mimo.evaluate_ensemble(model, x, y, verbose=0)
    assert calls == ["members"]  # one per-member prediction over the data


def test_deep_ensemble_and_single_model_use_the_same_call(data):
    x, y = data
    models = [plain_model(s) for s in range(3)]
    ensemble = keras_mimo.evaluate_ensemble(models, x, y, verbose=0)
    single = keras_mimo.evaluate_ensemble(models[0], x, y, verbose=0)
    probs = np.stack([m.predict(x, verbose=0) for m in models], 1).astype("float64")
    np.testing.assert_allclose(ensemble["nll"], -np.mean(np.log(probs.mean(1)[np.arange(60), y])), rtol=1e-5)
    assert ensemble["ensemble_size"] == 3 and single["ensemble_size"] == 1
    assert single["disagreement"] is None
    np.testing.assert_allclose(single["accuracy"], single["member_accuracy"][0])


def test_logits_models_are_converted_to_probabilities(data):
    x, y = data
    inputs = keras.Input((4,))
    h = keras_mimo.MIMOInput(2)(inputs)
    outputs = keras_mimo.MIMOHead(4, 2)(keras.layers.Dense(8, activation="relu")(h))
    model = keras_mimo.MIMOModel(inputs, outputs)
    results = keras_mimo.evaluate_ensemble(model, x, y, verbose=0)
    logits = model.predict(x, verbose=0)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(results["nll"], -np.mean(np.log(probs[np.arange(60), y])), rtol=1e-4)


def test_ood_detection_results(mlp_mimo, data):
    x, y = data
    results = keras_mimo.evaluate_ensemble(mlp_mimo(), x, y, ood_x=x * 5.0, verbose=0)
    assert set(results["ood"]) == {"one_minus_max_prob", "entropy", "mutual_information"}
    for scores in results["ood"].values():
        assert set(scores) == {"auroc", "aupr_in", "aupr_out", "fpr95"}
        assert all(0.0 <= v <= 1.0 for v in scores.values())
    json.dumps(results)


def test_bad_arguments_are_rejected(data):
    x, y = data
    with pytest.raises(TypeError, match="deep ensemble"):
        keras_mimo.evaluate_ensemble("model", x, y)
    with pytest.raises(ValueError, match="one row per example"):
        keras_mimo.evaluate_ensemble(plain_model(0), x, y[:10], verbose=0)


def test_reliability_bins_reproduce_the_ece(mlp_mimo, data):
    x, y = data
    results = keras_mimo.evaluate_ensemble(mlp_mimo(), x, y, verbose=0)
    bins = results["reliability"]
    assert sum(bins["count"]) == len(y) and len(bins["count"]) == 15
    ece = sum(c / len(y) * abs(a - f) for c, a, f in zip(bins["count"], bins["accuracy"], bins["confidence"]) if c)
    np.testing.assert_allclose(ece, results["ece"], atol=1e-5)


@pytest.mark.parametrize("bad_label", [4, -1])
def test_labels_outside_the_classes_are_rejected(data, bad_label):
    x, y = data
    y = y.copy()
    y[:8] = bad_label
    with pytest.raises(ValueError, match=r"`y` must hold class indices in \[0, 4\)"):
        keras_mimo.evaluate_ensemble(plain_model(0), x, y, verbose=0)


def test_a_multi_output_model_gets_a_clear_error(data):
    x, y = data
    inputs = keras.Input((4,))
    h = keras_mimo.MIMOInput(2)(inputs)
    model = keras_mimo.MIMOModel(
        inputs,
        [keras_mimo.MIMOHead(4, 2, activation="softmax")(h), keras_mimo.MIMOHead(1, 2, ensemble_method="mean")(h)],
    )
    with pytest.raises(ValueError, match="must have one classifier output.*2 outputs"):
        keras_mimo.evaluate_ensemble(model, x, y, verbose=0)


def test_logits_models_get_the_log_space_ensemble_nll(data):
    # Confidently wrong members: probabilities underflow float32, the log-space
    # NLL (log-mean-exp of the members' log-probabilities) does not clip.
    x, y = data
    inputs = keras.Input((4,))
    h = keras_mimo.MIMOInput(2)(inputs)
    model = keras_mimo.MIMOModel(inputs, keras_mimo.MIMOHead(4, 2, kernel_initializer="zeros")(h))
    head = model.layers[-1]
    bias = np.zeros(8, "float32")
    bias[[0, 4]] = 200.0  # both members put a logit margin of 200 on class 0
    head.dense.bias.assign(bias)
    results = keras_mimo.evaluate_ensemble(model, x, y, verbose=0)
    wrong = y != 0
    np.testing.assert_allclose(results["nll"], 200.0 * wrong.mean(), rtol=1e-4)
    np.testing.assert_allclose(results["member_nll"], [200.0 * wrong.mean()] * 2, rtol=1e-4)


def test_selective_and_adaptive_calibration_scores_use_the_ensembles_max_probability(mlp_mimo, data):
    x, y = data
    model = mlp_mimo(ensemble_size=3)
    results = keras_mimo.evaluate_ensemble(model, x, y, verbose=0)
    mean = model.predict_members(x, verbose=0).astype("float64").mean(1)
    confidence, correct = mean.max(-1), mean.argmax(-1) == y
    assert results["aurc"] == pytest.approx(keras_mimo.metrics.aurc(confidence, correct), rel=1e-5)
    assert results["augrc"] == pytest.approx(keras_mimo.metrics.augrc(confidence, correct), rel=1e-5)
    assert results["adaptive_ece"] == pytest.approx(
        keras_mimo.metrics.adaptive_calibration_error(mean, y, 15), rel=1e-4, abs=1e-6
    )
