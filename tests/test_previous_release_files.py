"""A `.keras` file written by the previous release (member-major stacked rows) loads and predicts the same.

tests/data/previous_release.keras: a masked LSTM MIMO model (M = 3) with a
softmax head and a Gaussian head, trained 2 epochs and saved by keras-mimo
at commit ad4cbb3 (JAX backend); previous_release_outputs.npz holds its
`predict` and `predict_members` outputs on 5 rows (the last 2 steps masked).
The stacked-row layout changed to example-major since; it is not stored.
"""

import pathlib

import keras
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
