import keras
import numpy as np
import pytest

import keras_mimo
from keras_mimo.applications import wide_resnet


def test_wrn_28_10_mimo3_has_the_papers_parameter_count():
    # The MIMO paper: WRN-28-10 MIMO (M=3) has 36.5M parameters, like the single model.
    mimo = wide_resnet(depth=28, width_multiplier=10, ensemble_size=3)
    single = wide_resnet(depth=28, width_multiplier=10, ensemble_size=None)
    assert isinstance(mimo, keras_mimo.MIMOModel) and not isinstance(single, keras_mimo.MIMOModel)
    assert round(mimo.count_params() / 1e6, 1) == 36.5
    assert 0 < mimo.count_params() - single.count_params() < 20_000


def test_small_wrn_predicts_with_the_original_input_shape():
    model = wide_resnet(depth=10, width_multiplier=1, num_classes=7, ensemble_size=2, l2=1e-4,
                        batch_repetitions=2, seed=1)
    assert model.batch_repetitions == 2 and model.seed == 1
    probs = model.predict(np.zeros((3, 32, 32, 3), "float32"), verbose=0)
    assert probs.shape == (3, 7)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    assert len(model.losses) > 0  # l2 on kernels, biases and batch norm


@pytest.mark.parametrize("depth", [12, 27, 0])
def test_depth_must_be_6n_plus_4(depth):
    with pytest.raises(ValueError, match="depth"):
        wide_resnet(depth=depth, width_multiplier=1)
