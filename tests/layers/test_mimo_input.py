import keras
import numpy as np
import pytest

from keras_mimo import MIMOInput


@pytest.mark.parametrize("shape", [(6, 4), (6, 5, 3), (6, 4, 4, 2)])
@pytest.mark.parametrize("ensemble_size", [1, 2, 3])
def test_channels_are_the_members_concatenation_from_example_major_rows(shape, ensemble_size):
    rows = shape[0] * ensemble_size
    x = np.random.default_rng(0).random((rows,) + shape[1:]).astype("float32")
    out = keras.ops.convert_to_numpy(MIMOInput(ensemble_size)(x))
    # Independent reference: member m's rows are x[m::M] (row n * M + m).
    members = [x[m::ensemble_size] for m in range(ensemble_size)]
    np.testing.assert_array_equal(out, np.concatenate(members, axis=-1))


def test_compute_output_shape_matches_call():
    layer = MIMOInput(3)
    assert layer.compute_output_shape((None, 32, 32, 3)) == (None, 32, 32, 9)
    assert layer.compute_output_shape((12, 7)) == (4, 21)
    symbolic = layer(keras.KerasTensor((None, 8, 8, 3)))
    assert symbolic.shape == (None, 8, 8, 9)


def test_config_round_trip():
    layer = MIMOInput(4, name="mimo_in")
    clone = MIMOInput.from_config(layer.get_config())
    assert clone.ensemble_size == 4 and clone.name == "mimo_in"


@pytest.mark.parametrize(
    "value,error", [(0, ValueError), (-2, ValueError), (2.5, TypeError), ("3", TypeError), (True, TypeError)]
)
def test_bad_ensemble_size_is_rejected_at_construction(value, error):
    with pytest.raises(error, match="ensemble_size"):
        MIMOInput(value)


def test_rows_not_divisible_by_ensemble_size_are_rejected():
    with pytest.raises(ValueError, match="divisible by ensemble_size=3"):
        MIMOInput(3).compute_output_shape((10, 4))


def test_rank_one_input_is_rejected():
    with pytest.raises(ValueError, match="rank >= 2"):
        MIMOInput(2).build((8,))
