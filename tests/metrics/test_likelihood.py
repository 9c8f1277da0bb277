import keras
import numpy as np
import pytest

from keras_mimo.metrics import BrierScore
from keras_mimo.metrics import NegativeLogLikelihood


def value(metric, labels, preds, weights=None, batch=None):
    batch = batch or len(labels)
    for s in range(0, len(labels), batch):
        w = None if weights is None else weights[s : s + batch]
        metric.update_state(labels[s : s + batch], preds[s : s + batch], sample_weight=w)
    return float(keras.ops.convert_to_numpy(metric.result()))


@pytest.mark.parametrize("metric_cls,ref", [(NegativeLogLikelihood, "nll"), (BrierScore, "brier")])
def test_matches_numpy_reference_on_adversarial_cases(cases, np_refs, metric_cls, ref):
    for name, probs, labels in cases:
        expected = getattr(np_refs, ref)(probs, labels)
        np.testing.assert_allclose(value(metric_cls(), labels, probs), expected, rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("metric_cls,ref", [(NegativeLogLikelihood, "nll"), (BrierScore, "brier")])
def test_streaming_weighted_one_hot(cases, np_refs, metric_cls, ref):
    _, probs, labels = cases[0]
    weights = np.random.default_rng(1).random(len(labels)).astype("float32")
    onehot = np.eye(probs.shape[-1], dtype="float32")[labels]
    expected = getattr(np_refs, ref)(probs, labels, weights)
    got = value(metric_cls(), onehot, probs, weights, batch=9)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_logits_match_probabilities(np_refs):
    logits = np.random.default_rng(2).normal(0, 5, (50, 6)).astype("float32")
    labels = np.arange(50) % 6
    z = logits.astype("float64")
    log_probs = z - z.max(-1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(-1, keepdims=True))
    probs = np.exp(log_probs)
    np.testing.assert_allclose(
        value(NegativeLogLikelihood(from_logits=True), labels, logits),
        -log_probs[np.arange(50), labels].mean(),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        value(BrierScore(from_logits=True), labels, logits), np_refs.brier(probs, labels), rtol=1e-5
    )


def test_nll_from_huge_logits_is_finite_and_exact():
    logits = np.array([[1000.0, -1000.0]], "float32")
    np.testing.assert_allclose(value(NegativeLogLikelihood(from_logits=True), np.array([1]), logits), 2000.0)


def test_brier_matches_tensorflow_probability(cases, tfp):
    for name, probs, labels in cases:
        logits = np.log(np.clip(probs, 1e-30, 1.0))
        # tfp's Brier is sum_k p_k^2 - 2 p_y: ours minus the constant 1.
        expected = float(np.mean(tfp.stats.brier_score(labels, logits))) + 1.0
        np.testing.assert_allclose(value(BrierScore(), labels, probs), expected, atol=1e-5, err_msg=name)


def test_nll_matches_keras_crossentropy_on_probabilities(cases):
    _, probs, labels = cases[0]
    losses = keras.losses.sparse_categorical_crossentropy(labels, probs)
    expected = float(np.mean(keras.ops.convert_to_numpy(losses)))
    np.testing.assert_allclose(value(NegativeLogLikelihood(), labels, probs), expected, rtol=1e-5)


def test_binary_predictions():
    np.testing.assert_allclose(
        value(BrierScore(), np.array([1, 0]), np.array([[0.8], [0.3]], "float32")),
        np.mean([2 * 0.2**2, 2 * 0.3**2]),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        value(NegativeLogLikelihood(), np.array([1, 0]), np.array([[0.8], [0.3]], "float32")),
        -np.mean(np.log([0.8, 0.7])),
        rtol=1e-5,
    )


@pytest.mark.parametrize("metric_cls", [NegativeLogLikelihood, BrierScore])
@pytest.mark.parametrize("bad_label", [4, -1])
def test_labels_outside_the_classes_are_rejected_by_name(metric_cls, bad_label):
    probs = np.full((3, 4), 0.25, "float32")
    with pytest.raises(ValueError, match=rf"`y_true` must hold class indices in \[0, 4\).*\[{bad_label}\]"):
        metric_cls().update_state(np.array([0, bad_label, 1]), probs)


@pytest.mark.parametrize("metric_cls", [NegativeLogLikelihood, BrierScore])
def test_labels_outside_the_classes_in_evaluate_raise_or_give_nan(metric_cls):
    # torch runs evaluate eagerly: the label check raises. TF and JAX compile
    # the step, where a value cannot raise: the score turns NaN instead of
    # silently lower (8 of 32 labels out of range lowered the NLL before).
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(inputs))
    metric = metric_cls()
    model.compile(loss=lambda y, p: keras.ops.mean(p) * 0.0, metrics=[metric])
    y = np.arange(32) % 4
    y[:8] = 4
    x = np.ones((32, 4), "float32")
    if keras.backend.backend() == "torch":
        with pytest.raises(ValueError, match=r"\[0, 4\)"):
            model.evaluate(x, y, batch_size=32, verbose=0)
        return
    result = model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    assert np.isnan(result[metric.name]), result
