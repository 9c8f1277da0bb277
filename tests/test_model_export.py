"""Serving: `MIMOModel.export` and the traceable `call_members`."""

import keras
import numpy as np
import pytest

BACKEND = keras.backend.backend()


def test_call_members_matches_predict_members(cnn_mimo, image_data):
    x, _ = image_data
    model = cnn_mimo()
    members = keras.ops.convert_to_numpy(model.call_members(x))
    np.testing.assert_allclose(members, model.predict_members(x, verbose=0), rtol=1e-5, atol=1e-7)
    stacked = np.stack([x, x[::-1], x], axis=1)
    per_member = keras.ops.convert_to_numpy(model.call_members(stacked))
    np.testing.assert_allclose(per_member, model.predict_members(stacked, verbose=0), rtol=1e-5, atol=1e-7)


@pytest.mark.skipif(BACKEND != "tensorflow", reason="SavedModel export is tested on TensorFlow")
def test_saved_model_serves_ensemble_and_members(cnn_mimo, image_data, tmp_path):
    import tensorflow as tf

    x, y = image_data
    model = cnn_mimo()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    model.export(str(tmp_path / "served"), verbose=False)
    served = tf.saved_model.load(str(tmp_path / "served"))
    np.testing.assert_allclose(served.serve(x).numpy(), model.predict(x, verbose=0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        served.serve_members(x).numpy(), model.predict_members(x, verbose=0), rtol=1e-5, atol=1e-7
    )
