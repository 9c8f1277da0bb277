import json
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from keras_mimo import metrics
from keras_mimo.metrics import ood


def sklearn_fpr95(s_in, s_out):
    labels = np.r_[np.zeros(len(s_in)), np.ones(len(s_out))]
    fpr, tpr, _ = skm.roc_curve(labels, np.r_[s_in, s_out], drop_intermediate=False)
    return fpr[np.argmax(tpr >= 0.95)]


CASES = {
    "random": (np.random.default_rng(0).normal(0, 1, 300), np.random.default_rng(1).normal(1, 1, 200)),
    "ties": (
        np.random.default_rng(2).integers(0, 4, 100).astype(float),
        np.random.default_rng(3).integers(1, 5, 80).astype(float),
    ),
    "separable": (np.linspace(0, 1, 50), np.linspace(2, 3, 50)),
    "inverted": (np.linspace(2, 3, 50), np.linspace(0, 1, 50)),
    "constant": (np.zeros(10), np.zeros(7)),
    "one_each": (np.array([0.2]), np.array([0.7])),
}


@pytest.mark.parametrize("name", CASES)
def test_matches_scikit_learn(name):
    s_in, s_out = CASES[name]
    is_ood = np.r_[np.zeros(len(s_in)), np.ones(len(s_out))]
    scores = np.r_[s_in, s_out]
    np.testing.assert_allclose(ood.auroc(s_in, s_out), skm.roc_auc_score(is_ood, scores), atol=1e-12)
    np.testing.assert_allclose(ood.aupr_out(s_in, s_out), skm.average_precision_score(is_ood, scores), atol=1e-12)
    # AUPR-In: in-distribution rows are the positives, ranked by the negated OOD score
    np.testing.assert_allclose(ood.aupr_in(s_in, s_out), skm.average_precision_score(1 - is_ood, -scores), atol=1e-12)
    np.testing.assert_allclose(ood.fpr_at_95_tpr(s_in, s_out), sklearn_fpr95(s_in, s_out), atol=1e-12)


def test_aupr_in_and_out_differ_and_the_old_aupr_is_aupr_out():
    s_in, s_out = CASES["random"]
    assert abs(ood.aupr_in(s_in, s_out) - ood.aupr_out(s_in, s_out)) > 0.01
    with pytest.warns(DeprecationWarning, match="aupr_out"):
        assert metrics.aupr(s_in, s_out) == ood.aupr_out(s_in, s_out)
    assert metrics.aupr_in is ood.aupr_in and metrics.aupr_out is ood.aupr_out


def ensemble_probs(n, seed, concentration):
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(4, concentration), size=(n, 3))  # (N, M=3, K=4)


def test_ood_scores_names_say_what_the_scores_are():
    in_probs, out_probs = ensemble_probs(40, 0, 0.3), ensemble_probs(30, 1, 3.0)
    results = ood.ood_scores(in_probs, out_probs)
    assert set(results) == {"one_minus_max_prob", "entropy", "mutual_information"}
    assert all(set(r) == {"auroc", "aupr_in", "aupr_out", "fpr95"} for r in results.values())
    # one_minus_max_prob is 1 - max_k of the members' mean probability: higher = more OOD
    s_in, s_out = 1 - in_probs.mean(1).max(-1), 1 - out_probs.mean(1).max(-1)
    is_ood = np.r_[np.zeros(40), np.ones(30)]
    expected = {
        "auroc": skm.roc_auc_score(is_ood, np.r_[s_in, s_out]),
        "aupr_in": skm.average_precision_score(1 - is_ood, -np.r_[s_in, s_out]),
        "aupr_out": skm.average_precision_score(is_ood, np.r_[s_in, s_out]),
        "fpr95": sklearn_fpr95(s_in, s_out),
    }
    for key, value in expected.items():
        assert results["one_minus_max_prob"][key] == pytest.approx(value, abs=1e-12)
    assert results["one_minus_max_prob"]["auroc"] > 0.5  # the flat OOD rows score higher
    assert json.loads(json.dumps(results)) == results


def test_the_previous_keys_still_read_with_a_deprecation_warning():
    results = ood.ood_scores(ensemble_probs(20, 2, 0.3), ensemble_probs(20, 3, 3.0))
    assert "max_prob" not in results and "aupr" not in results["entropy"]
    with pytest.warns(DeprecationWarning, match="'max_prob' is deprecated; read 'one_minus_max_prob'"):
        assert results["max_prob"] is results["one_minus_max_prob"]
    with pytest.warns(DeprecationWarning, match="'aupr' is deprecated; read 'aupr_out'"):
        assert results["entropy"]["aupr"] == results["entropy"]["aupr_out"]
    with warnings.catch_warnings(), pytest.raises(KeyError):
        warnings.simplefilter("error")
        results["nonexistent"]


SCORE_FUNCTIONS = {"auroc": ood.auroc, "aupr_in": ood.aupr_in, "aupr_out": ood.aupr_out, "fpr95": ood.fpr_at_95_tpr}

BAD_SCORES = [
    # (in_scores, out_scores, error, pattern naming the argument and what was received)
    ([], [1.0], ValueError, r"`in_scores` is empty"),
    ([1.0], [], ValueError, r"`out_scores` is empty"),
    ([0.1, np.nan], [1.0], ValueError, r"`in_scores` must be finite.*1 NaN.*index 1"),
    ([0.1], [np.inf, 1.0], ValueError, r"`out_scores` must be finite.*1 infinite.*index 0"),
    ([0.1], [1.0, -np.inf], ValueError, r"`out_scores` must be finite.*1 infinite.*index 1"),
    ([[0.1, 0.2]], [1.0], ValueError, r"`in_scores` must be a 1-D array.*\(1, 2\)"),
    ([0.1], np.ones((2, 3)), ValueError, r"`out_scores` must be a 1-D array.*\(2, 3\)"),
    (["a"], [1.0], TypeError, r"`in_scores` must hold real numbers.*'a'"),
    ([0.1], None, TypeError, r"`out_scores` must hold real numbers.*None"),
]


@pytest.mark.parametrize("name", SCORE_FUNCTIONS)
@pytest.mark.parametrize("in_scores,out_scores,error,match", BAD_SCORES)
def test_bad_scores_name_the_argument_and_the_value(name, in_scores, out_scores, error, match):
    with pytest.raises(error, match=match):
        SCORE_FUNCTIONS[name](in_scores, out_scores)


GOOD = np.full((4, 2, 3), 1 / 3)


@pytest.mark.parametrize(
    "in_probs,out_probs,error,match",
    [
        (GOOD[:, 0], GOOD, ValueError, r"`in_probs` must be non-empty member probabilities \(N, M, K\).*\(4, 3\)"),
        (GOOD, GOOD[:0], ValueError, r"`out_probs` must be non-empty.*\(0, 2, 3\)"),
        (
            GOOD,
            np.where(np.arange(3) == 1, np.nan, GOOD),
            ValueError,
            r"`out_probs` must be finite.*8 NaN.*index \(0, 0, 1\)",
        ),
        (GOOD - 0.5, GOOD, ValueError, r"`in_probs` must hold probabilities in \[0, 1\].*-0.16"),
        (GOOD, GOOD * 4, ValueError, r"`out_probs` must hold probabilities in \[0, 1\].*1.33"),
        (GOOD, np.full((4, 2, 5), 0.2), ValueError, r"same number of classes.*\(4, 2, 3\) and \(4, 2, 5\)"),
        ("probs", GOOD, TypeError, r"`in_probs` must hold real numbers.*'probs'"),
    ],
)
def test_bad_probabilities_name_the_argument_and_the_value(in_probs, out_probs, error, match):
    with pytest.raises(error, match=match):
        ood.ood_scores(in_probs, out_probs)
