import numpy as np

from keras_mimo import ensembles
from keras_mimo.metrics import diversity


def test_identical_members_have_no_diversity():
    p = np.random.default_rng(0).dirichlet(np.ones(4), size=20)
    probs = np.stack([p, p, p], axis=1)
    assert diversity.disagreement(probs) == 0.0
    np.testing.assert_allclose(diversity.average_kl(probs), 0.0, atol=1e-12)
    np.testing.assert_allclose(diversity.cosine_similarity(probs), 1.0)
    np.testing.assert_allclose(ensembles.to_numpy(ensembles.mutual_information(probs)), 0.0, atol=1e-6)  # float32


def test_hand_computed_two_member_values():
    probs = np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.5, 0.5], [0.5, 0.5]]])
    assert diversity.disagreement(probs) == 0.5
    np.testing.assert_allclose(diversity.cosine_similarity(probs), 0.5)
    # MI of example 0: H([.5,.5]) - 0 = log 2; example 1: 0
    np.testing.assert_allclose(ensembles.to_numpy(ensembles.mutual_information(probs)), [np.log(2), 0.0], atol=1e-6)
    np.testing.assert_allclose(ensembles.to_numpy(ensembles.entropy(probs[1, 0])), np.log(2), rtol=1e-6)


def test_average_kl_is_symmetrised_mean_of_pairs():
    p, q = np.array([0.7, 0.3]), np.array([0.4, 0.6])
    probs = np.array([[p, q]])
    kl = lambda a, b: np.sum(a * np.log(a / b))
    np.testing.assert_allclose(diversity.average_kl(probs), (kl(p, q) + kl(q, p)) / 2)


def test_one_member_has_no_pairwise_diversity():
    probs = np.full((5, 1, 3), 1 / 3)
    assert diversity.disagreement(probs) is None
    assert diversity.average_kl(probs) is None
    assert diversity.cosine_similarity(probs) is None
