import numpy as np
import pytest
from sklearn import metrics as skm

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
}


@pytest.mark.parametrize("name", CASES)
def test_matches_scikit_learn(name):
    s_in, s_out = CASES[name]
    labels = np.r_[np.zeros(len(s_in)), np.ones(len(s_out))]
    scores = np.r_[s_in, s_out]
    np.testing.assert_allclose(ood.auroc(s_in, s_out), skm.roc_auc_score(labels, scores), atol=1e-12)
    np.testing.assert_allclose(ood.aupr(s_in, s_out), skm.average_precision_score(labels, scores), atol=1e-12)
    np.testing.assert_allclose(ood.fpr_at_95_tpr(s_in, s_out), sklearn_fpr95(s_in, s_out), atol=1e-12)


def test_empty_scores_are_rejected():
    with pytest.raises(ValueError, match="in- and out-of-distribution"):
        ood.auroc([], [1.0])
