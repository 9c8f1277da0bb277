"""A `.keras` file written by the previous release (member-major stacked rows) loads and predicts the same.

tests/data/previous_release.keras: a masked LSTM MIMO model (M = 3) with a
softmax head and a Gaussian head, trained 2 epochs and saved by keras-mimo
at commit ad4cbb3 (JAX backend); previous_release_outputs.npz holds its
`predict` and `predict_members` outputs on 5 rows (the last 2 steps masked).
The stacked-row layout changed to example-major since; it is not stored.
"""

import pathlib

import keras
import pytest
import numpy as np

import keras_mimo

DATA = pathlib.Path(__file__).resolve().parent / "data"


def test_previous_release_file_predicts_the_same():
    model = keras.saving.load_model(DATA / "previous_release.keras")
    assert isinstance(model, keras_mimo.MIMOModel) and model.ensemble_size == 3
    saved = np.load(DATA / "previous_release_outputs.npz")
    predicted = model.predict(saved["x"], verbose=0)
    members = model.predict_members(saved["x"], verbose=0)
    for name in ("probs", "value"):
        np.testing.assert_allclose(predicted[name], saved[name], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(members[name], saved["members_" + name], rtol=1e-4, atol=1e-5)


WRAPPERS = DATA / "wrappers"
WRAPPER_NAMES = sorted(p.stem for p in WRAPPERS.glob("*.keras"))


def test_the_wrapper_fixture_is_there():
    assert len(WRAPPER_NAMES) == 10


@pytest.mark.parametrize("name", WRAPPER_NAMES)
def test_a_wrapper_saved_by_the_previous_release_loads_and_predicts_the_same(name):
    # tests/data/wrappers: with_temperature, with_std_scale, with_uncertainty, with_prediction_sets and
    # with_prediction_intervals models saved at commit a2b3166 (make_wrapper_files.py), whose deep-ensemble and
    # uncertainty wrappers hold the layer registered then as "keras_mimo>Ensemble"
    saved = np.load(WRAPPERS / "outputs.npz")
    model = keras.saving.load_model(WRAPPERS / f"{name}.keras")
    predicted = model.predict(saved["x"], verbose=0)
    if isinstance(predicted, dict):
        assert sorted(f"{name}/{key}" for key in predicted) == sorted(
            k for k in saved.files if k.startswith(name + "/")
        )
        for key, value in predicted.items():
            np.testing.assert_allclose(value, saved[f"{name}/{key}"], rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_allclose(predicted, saved[name], rtol=1e-5, atol=1e-6)
