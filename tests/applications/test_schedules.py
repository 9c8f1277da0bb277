import keras
import numpy as np
import pytest

from keras_mimo.applications import WarmUpStepDecay


def reference(step, base, warmup, boundaries, ratio):
    lr = base * min(1.0, (step + 1) / max(warmup, 1))
    return lr * ratio ** sum(step >= b for b in boundaries)


@pytest.mark.parametrize("step", [0, 4, 9, 10, 99, 100, 199, 200, 224, 225, 300])
def test_matches_the_reference_schedule(step):
    schedule = WarmUpStepDecay(0.1, warmup_steps=10, decay_steps=[100, 200, 225], decay_ratio=0.2)
    got = float(keras.ops.convert_to_numpy(schedule(step)))
    np.testing.assert_allclose(got, reference(step, 0.1, 10, [100, 200, 225], 0.2), rtol=1e-6)


def test_config_round_trip_and_bad_boundaries():
    schedule = WarmUpStepDecay(0.2, 5, [10, 20], 0.1)
    assert WarmUpStepDecay.from_config(schedule.get_config()).get_config() == schedule.get_config()
    with pytest.raises(ValueError, match="decay_steps"):
        WarmUpStepDecay(0.1, 1, [20, 10])
