import keras
import numpy as np
import pytest

import keras_mimo
from keras_mimo import combine_members
from keras_mimo import ensembles


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.fixture
def members():
    return np.random.default_rng(0).normal(0, 3, size=(6, 4, 5)).astype("float32")


def test_mean_is_the_arithmetic_mean(members):
    out = keras.ops.convert_to_numpy(combine_members(members, "mean", axis=1))
    np.testing.assert_allclose(out, members.mean(1), rtol=1e-6)


def test_softmax_logits_give_the_mean_member_probability(members):
    out = keras.ops.convert_to_numpy(combine_members(members, "softmax_logits", axis=1))
    np.testing.assert_allclose(softmax(out), softmax(members).mean(1), rtol=1e-5)
    # and it is not the mean of the logits
    assert not np.allclose(softmax(out), softmax(members.mean(1)), rtol=1e-3)


def test_sigmoid_logits_give_the_mean_member_probability(members):
    out = keras.ops.convert_to_numpy(combine_members(members, "sigmoid_logits", axis=1))
    sigmoid = lambda z: 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(sigmoid(out), sigmoid(members).mean(1), rtol=1e-5)


def test_huge_logits_stay_finite():
    members = np.array([[[1000.0, -1000.0]], [[-1000.0, 1000.0]]], dtype="float32")
    out = keras.ops.convert_to_numpy(combine_members(members, "softmax_logits", axis=0))
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(softmax(out), [[0.5, 0.5]], atol=1e-6)


def test_unknown_method_is_rejected(members):
    with pytest.raises(ValueError, match="ensemble_method"):
        combine_members(members, "vote")


def test_gaussian_members_combine_to_the_moment_matched_mixture():
    rng = np.random.default_rng(3)
    mu, sigma = rng.normal(size=(5, 3, 2)), rng.random((5, 3, 2)) + 0.1
    members = np.concatenate([mu, sigma], axis=-1).astype("float32")
    out = keras.ops.convert_to_numpy(combine_members(members, "gaussian", axis=1))
    mean = mu.mean(1)
    var = (sigma**2 + mu**2).mean(1) - mean**2
    np.testing.assert_allclose(out[:, :2], mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[:, 2:], np.sqrt(var), rtol=1e-4)


def test_gaussian_outputs_are_not_class_probabilities():
    from keras_mimo.ensembles import to_probabilities

    with pytest.raises(ValueError, match="regression head"):
        to_probabilities(np.zeros((2, 4), "float32"), "gaussian")


# -- the predictive quantities against brute-force numpy loops (float64, one example and member at a time)


def _loop_entropy(p):
    return -sum(pk * np.log(max(pk, 1e-30)) for pk in p)


@pytest.fixture
def member_probs():
    return softmax(np.random.default_rng(1).normal(0, 2, size=(7, 3, 4)))  # (N, M, K)


def test_quantities_equal_loops_over_examples_and_members(member_probs):
    n, m, k = member_probs.shape
    mean = [[sum(member_probs[i, j, c] for j in range(m)) / m for c in range(k)] for i in range(n)]
    expected_entropy = [sum(_loop_entropy(member_probs[i, j]) for j in range(m)) / m for i in range(n)]
    total = [_loop_entropy(mean[i]) for i in range(n)]
    got = {
        "ensemble_probabilities": ensembles.ensemble_probabilities(member_probs),
        "entropy": ensembles.entropy(np.asarray(mean)),
        "expected_entropy": ensembles.expected_entropy(member_probs),
        "mutual_information": ensembles.mutual_information(member_probs),
        "log_mean_exp": ensembles.log_mean_exp(np.log(member_probs)),
        "log_probabilities": ensembles.log_probabilities(np.asarray(mean)),
    }
    want = {
        "ensemble_probabilities": mean,
        "entropy": total,
        "expected_entropy": expected_entropy,
        "mutual_information": [max(total[i] - expected_entropy[i], 0.0) for i in range(n)],
        "log_mean_exp": np.log(mean),
        "log_probabilities": np.log(mean),
    }
    for name in got:
        np.testing.assert_allclose(ensembles.to_numpy(got[name]), want[name], rtol=1e-5, atol=1e-6, err_msg=name)


def test_gaussian_moments_equal_loops():
    rng = np.random.default_rng(2)
    means, stds = rng.normal(size=(5, 3, 2)), rng.random((5, 3, 2)) + 0.1
    mean, aleatoric, epistemic = ensembles.to_numpy(ensembles.gaussian_moments(means, stds))
    matched_mean, matched_std = ensembles.to_numpy(ensembles.moment_matched(means, stds))
    for i in range(5):
        for u in range(2):
            mu = [means[i, j, u] for j in range(3)]
            center = sum(mu) / 3
            var_a = sum(stds[i, j, u] ** 2 for j in range(3)) / 3
            var_e = sum((x - center) ** 2 for x in mu) / 3
            assert mean[i, u] == pytest.approx(center, rel=1e-5, abs=1e-6)
            assert aleatoric[i, u] == pytest.approx(var_a, rel=1e-5)
            assert epistemic[i, u] == pytest.approx(var_e, rel=1e-4, abs=1e-6)
            assert matched_mean[i, u] == pytest.approx(center, rel=1e-5, abs=1e-6)
            assert matched_std[i, u] == pytest.approx(np.sqrt(var_a + var_e), rel=1e-5)


def test_each_method_reads_probabilities_and_log_probabilities_as_loops(members):
    n, m, k = members.shape
    for i in range(n):
        for j in range(m):
            z = members[i, j].astype("float64")
            softmax_row = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
            got = ensembles.to_numpy(ensembles.to_probabilities(members[i : i + 1, j], "softmax_logits"))[0]
            np.testing.assert_allclose(got, softmax_row, rtol=1e-5, atol=1e-7)
            got = ensembles.to_numpy(ensembles.to_log_probabilities(members[i : i + 1, j], "softmax_logits", 1e-7))[0]
            np.testing.assert_allclose(got, np.log(softmax_row), rtol=1e-4, atol=1e-5)
    one_unit = members[:, :, :1]
    p = 1 / (1 + np.exp(-one_unit.astype("float64")))
    got = ensembles.to_numpy(ensembles.to_probabilities(one_unit, "sigmoid_logits"))
    np.testing.assert_allclose(got, np.concatenate([1 - p, p], -1), rtol=1e-5, atol=1e-7)


# -- reading models as ensembles


def _classifier(units=3, activation="softmax", seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(units, activation=activation)(inputs))


def _mimo(activation="softmax", seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    x = keras_mimo.MIMOInput(2)(inputs)
    return keras_mimo.MIMOModel(inputs, keras_mimo.MIMOHead(3, 2, activation=activation)(x))


def test_a_deep_ensemble_concatenates_its_models_members_in_order():
    x = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    mimo, plain = _mimo(), _classifier(seed=1)
    probs, log_probs = ensembles.as_ensemble([mimo, plain]).member_probabilities(x)
    assert probs.shape == (6, 3, 3) and log_probs is None  # one probabilities model: no log space
    np.testing.assert_allclose(probs[:, :2], mimo.predict_members(x, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(probs[:, 2], plain.predict(x, verbose=0), rtol=1e-6)


def test_logits_models_are_averaged_in_log_space():
    x = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    a, b = _classifier(activation=None, seed=0), _classifier(activation=None, seed=1)
    reader = ensembles.as_ensemble([a, b], from_logits=True)
    log_probs = reader.predictive_log_probabilities(x)
    logits = np.stack([a.predict(x, verbose=0), b.predict(x, verbose=0)], 1).astype("float64")
    expected = np.log(softmax(logits).mean(1))
    np.testing.assert_allclose(log_probs, expected, rtol=1e-5, atol=1e-6)


def test_the_reader_knows_a_wrapper_by_its_last_layer_not_by_its_name():
    from keras_mimo import calibration

    logits = _mimo(activation=None)
    wrapped = calibration.with_temperature(logits, 2.0)
    reader = ensembles.as_ensemble(wrapped)
    assert reader.forms == ["softmax_logits"]  # the wrapped head's form, read from TemperatureScaling
    wrapped.layers[-1].name = "renamed"
    assert ensembles.as_ensemble(wrapped).forms == ["softmax_logits"]


def test_the_symbolic_and_numpy_paths_agree():
    x = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    models = [_mimo(), _classifier(seed=1)]
    reader = ensembles.as_ensemble(models)
    inputs, probs = reader.symbolic_probabilities()
    np.testing.assert_allclose(
        keras.Model(inputs, probs).predict(x, verbose=0), reader.member_probabilities(x)[0].mean(1), rtol=1e-5
    )


def test_the_moved_names_still_read_with_a_deprecation_warning():
    import keras_mimo.ensembling
    import keras_mimo.metrics
    import keras_mimo.predictive

    for module, name, new in [
        (keras_mimo.ensembling, "combine_members", ensembles.combine_members),
        (keras_mimo.predictive, "ensemble_log_probabilities", ensembles.log_mean_exp),
        (keras_mimo.predictive, "entropy", ensembles.entropy),
    ]:
        with pytest.warns(DeprecationWarning, match=f"{name} is deprecated.*0.3.0"):
            assert getattr(module, name) is new
    members = softmax(np.random.default_rng(0).normal(size=(5, 2, 3)))
    with pytest.warns(DeprecationWarning, match="keras_mimo.metrics.mutual_information is deprecated"):
        values = keras_mimo.metrics.mutual_information(members)
    assert isinstance(values, np.ndarray) and values.dtype == np.float64
    np.testing.assert_allclose(values, ensembles.to_numpy(ensembles.mutual_information(members)))
    with pytest.raises(AttributeError):
        keras_mimo.predictive.no_such_name


# -- found by a hostile probe of the reader and the wrappers (each was a silent wrong answer or a raw error)


def test_a_from_logits_that_contradicts_the_head_is_refused_by_fit_and_with_alike():
    from keras_mimo import calibration

    x, y = np.random.default_rng(0).normal(size=(8, 4)).astype("float32"), np.arange(8) % 3
    softmax_head = _mimo()
    for call in (
        lambda: calibration.fit_temperature(softmax_head, x, y, from_logits=True),
        lambda: calibration.with_temperature(softmax_head, 1.5, from_logits=True),
        lambda: keras_mimo.evaluate_ensemble(softmax_head, x, y, from_logits=True),
        lambda: keras_mimo.with_uncertainty(softmax_head, from_logits=True),
        lambda: calibration.fit_temperature(_classifier(), x, y, from_logits=True),  # a Softmax output layer
    ):
        with pytest.raises(ValueError, match="from_logits.*Received: from_logits=True"):
            call()
    with pytest.raises(ValueError, match="Received: from_logits=False"):
        calibration.with_temperature(_mimo(activation=None), 1.5, from_logits=False)
    with pytest.raises(TypeError, match="Received: from_logits='no'"):
        calibration.fit_temperature(_classifier(), x, y, from_logits="no")


def test_a_plain_output_that_does_not_say_needs_from_logits_in_fit_and_with_alike():
    from keras_mimo import calibration

    x, y = np.random.default_rng(0).normal(size=(8, 4)).astype("float32"), np.arange(8) % 3
    linear = _classifier(activation=None)
    for call in (
        lambda: calibration.fit_temperature(linear, x, y),
        lambda: calibration.with_temperature(linear, 1.0),
        lambda: keras_mimo.with_uncertainty(linear),
    ):
        with pytest.raises(ValueError, match="`from_logits` must be given.*Received: from_logits=None"):
            call()
    served = keras_mimo.with_uncertainty(linear, from_logits=True).predict(x, verbose=0)["probabilities"]
    np.testing.assert_allclose(served, softmax(linear.predict(x, verbose=0)), rtol=1e-5, atol=1e-6)


def test_a_deep_ensemble_of_models_that_differ_is_refused_naming_the_odd_model():
    odd = _classifier(units=4, seed=3)
    odd.name = "four_classes"
    with pytest.raises(ValueError, match="same shapes.*Received: model 'four_classes'"):
        ensembles.as_ensemble([_mimo(), odd]).require_classifier()


def test_member_gaussians_of_a_classifier_is_refused():
    with pytest.raises(ValueError, match="must have a Gaussian"):
        ensembles.as_ensemble(_mimo()).member_gaussians(np.zeros((2, 4), "float32"))


def test_the_ensemble_layer_checks_its_arguments_when_built():
    model, plain = _mimo(), _classifier(seed=1)
    with pytest.raises(ValueError, match="one entry per model"):
        ensembles.Ensemble([model, plain], ["mean"])
    with pytest.raises(ValueError, match="ensemble_method"):
        ensembles.Ensemble([model], ["median"])
    with pytest.raises(TypeError, match="Received: models="):
        ensembles.Ensemble(["model"], ["mean"])
    with pytest.raises(ValueError, match="Gaussian forms"):
        ensembles.Ensemble([model], ["mean"], combine="gaussian")
