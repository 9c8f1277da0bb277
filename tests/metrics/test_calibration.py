import keras
import numpy as np
import pytest

import keras_mimo
from keras_mimo.metrics import ExpectedCalibrationError


def ece_value(probs, labels, num_bins=15, weights=None, from_logits=False, batch=None):
    metric = ExpectedCalibrationError(num_bins, from_logits=from_logits)
    batch = batch or len(labels)
    for s in range(0, len(labels), batch):
        w = None if weights is None else weights[s : s + batch]
        metric.update_state(labels[s : s + batch], probs[s : s + batch], sample_weight=w)
    return float(keras.ops.convert_to_numpy(metric.result()))


@pytest.mark.parametrize("num_bins", [1, 10, 15])
def test_matches_numpy_reference(cases, np_refs, num_bins):
    for name, probs, labels in cases:
        expected = np_refs.ece(probs, labels, num_bins)
        np.testing.assert_allclose(ece_value(probs, labels, num_bins), expected, atol=1e-5, err_msg=name)


def test_matches_tensorflow_probability(cases, tfp):
    for name, probs, labels in cases:
        logits = np.log(np.clip(probs, 1e-30, 1.0))
        expected = float(tfp.stats.expected_calibration_error(15, logits=logits, labels_true=labels))
        np.testing.assert_allclose(ece_value(probs, labels), expected, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(ece_value(logits, labels, from_logits=True), expected, atol=1e-5, err_msg=name)


def test_streaming_over_batches_equals_the_whole_set(cases, np_refs):
    _, probs, labels = cases[0]
    np.testing.assert_allclose(ece_value(probs, labels, batch=7), np_refs.ece(probs, labels), atol=1e-6)


def test_sample_weights_and_one_hot_labels(cases, np_refs):
    _, probs, labels = cases[0]
    weights = np.random.default_rng(3).random(len(labels)).astype("float32")
    onehot = np.eye(probs.shape[-1], dtype="float32")[labels]
    expected = np_refs.ece(probs, labels, weights=weights)
    np.testing.assert_allclose(ece_value(probs, onehot, weights=weights, batch=10), expected, atol=1e-5)


def test_known_value_and_reset():
    metric = ExpectedCalibrationError()
    metric.update_state([0, 1], [[0.9, 0.1], [0.4, 0.6]])
    np.testing.assert_allclose(float(metric.result()), 0.25, atol=1e-6)
    metric.reset_state()
    np.testing.assert_allclose(float(metric.result()), 0.0)


def test_binary_one_unit_predictions_are_two_class():
    metric = ExpectedCalibrationError(10)
    metric.update_state([1, 0], [[0.8], [0.3]])  # conf 0.8 right, 0.7 right
    np.testing.assert_allclose(float(metric.result()), 0.25, atol=1e-6)


def test_bad_num_bins_is_rejected():
    with pytest.raises(ValueError, match="num_bins"):
        ExpectedCalibrationError(0)


def test_usable_in_compile_and_serializable():
    metric = ExpectedCalibrationError(7, from_logits=True)
    clone = ExpectedCalibrationError.from_config(metric.get_config())
    assert (clone.num_bins, clone.from_logits) == (7, True)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=[ExpectedCalibrationError()])
    x = np.random.default_rng(0).random((16, 3)).astype("float32")
    y = np.arange(16) % 4
    logs = model.evaluate(x, y, return_dict=True, verbose=0)
    from_model = float(np.asarray(logs["ece"]))
    probs = model.predict(x, verbose=0)
    np.testing.assert_allclose(from_model, ece_value(probs, y), atol=1e-5)


def test_labels_outside_the_classes_are_rejected_by_name():
    probs = np.full((3, 4), 0.25, "float32")
    with pytest.raises(ValueError, match=r"`y_true` must hold class indices in \[0, 4\)"):
        ExpectedCalibrationError().update_state(np.array([0, 4, 1]), probs)


def test_reliability_statistics_are_the_bins_of_the_ece(cases, np_refs):
    _, probs, labels = cases[0]
    metric = ExpectedCalibrationError(num_bins=10)
    metric.update_state(labels, probs)
    bins = metric.reliability()
    total = sum(bins["count"])
    ece = sum(c / total * abs(a - f) for c, a, f in zip(bins["count"], bins["accuracy"], bins["confidence"]) if c)
    np.testing.assert_allclose(ece, np_refs.ece(probs, labels, 10), rtol=1e-5, atol=1e-6)


def adaptive_ece_brute_force(probs, labels, num_bins):
    """Equal-mass bins by hand: sorted rows cut into parts of size n // B or n // B + 1, bigger parts first."""
    n = len(labels)
    order = sorted(range(n), key=lambda i: probs[i].max())
    sizes = [n // num_bins + (1 if b < n % num_bins else 0) for b in range(num_bins)]
    total, start = 0.0, 0
    for size in sizes:
        rows = order[start : start + size]
        start += size
        accuracy = np.mean([probs[i].argmax() == labels[i] for i in rows])
        confidence = np.mean([probs[i].max() for i in rows])
        total += size * abs(accuracy - confidence)
    return total / n


@pytest.mark.parametrize("n,num_bins", [(100, 15), (37, 5), (10, 10), (3, 1)])
def test_adaptive_calibration_error_equals_equal_mass_binning_by_hand(n, num_bins):
    rng = np.random.default_rng(n)
    probs = rng.dirichlet(np.ones(4), n)
    labels = rng.integers(0, 4, n)
    got = keras_mimo.metrics.adaptive_calibration_error(probs, labels, num_bins)
    assert got == pytest.approx(adaptive_ece_brute_force(probs, labels, num_bins))


def test_adaptive_calibration_error_is_zero_when_confidence_matches_accuracy_per_bin():
    # 10 rows at confidence 0.6, six right; 10 at 0.9, nine right: two bins, both calibrated
    probs = np.array([[0.6, 0.4]] * 10 + [[0.9, 0.1]] * 10)
    labels = np.array([0] * 6 + [1] * 4 + [0] * 9 + [1])
    assert keras_mimo.metrics.adaptive_calibration_error(probs, labels, 2) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"labels": [0, 5]}, "labels"),
        ({"num_bins": 3}, "num_bins"),
        ({"num_bins": 0}, "num_bins"),
    ],
)
def test_adaptive_calibration_error_refuses_bad_input(kwargs, match):
    args = {"probs": [[0.6, 0.4], [0.2, 0.8]], "labels": [0, 1], "num_bins": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        keras_mimo.metrics.adaptive_calibration_error(**args)
