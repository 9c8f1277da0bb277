from fractions import Fraction

import keras
import numpy as np
import pytest

from keras_mimo.batching import mimo_batch_indices
from keras_mimo.batching import shuffled_row_count
from keras_mimo.batching import gather_members


def indices(*args, **kwargs):
    return keras.ops.convert_to_numpy(mimo_batch_indices(*args, **kwargs))


@pytest.mark.parametrize("batch_size,ensemble_size,reps", [(8, 3, 1), (5, 2, 4), (1, 4, 2)])
def test_every_member_sees_each_example_batch_repetitions_times(batch_size, ensemble_size, reps):
    idx = indices(batch_size, ensemble_size, 0.0, reps, seed=3)
    assert idx.shape == (ensemble_size, reps * batch_size)
    assert idx.dtype == np.int32
    for member in idx:
        np.testing.assert_array_equal(np.bincount(member, minlength=batch_size), reps)


@pytest.mark.parametrize(
    "rows,rho", [(10, 0.6), (512, 0.0), (4096, 0.6), (100, 0.7), (7, 1.0), (30, 0.1)]
)
def test_shuffled_row_count_is_the_exact_floor(rows, rho):
    exact = int(rows * (1 - Fraction(str(rho))))  # exact decimal arithmetic
    assert shuffled_row_count(rows, rho) == exact


def test_shuffled_row_count_avoids_float_rounding_down():
    # In float arithmetic 90 * (1 - 0.3) = 62.99999999999999 -> 62.
    assert int(90 * (1 - 0.3)) == 62
    assert shuffled_row_count(90, 0.3) == 63
    assert shuffled_row_count(keras.ops.convert_to_tensor(10), 0.9) == 1


@pytest.mark.parametrize("rho", [0.25, 0.6])
def test_tail_rows_are_shared_and_head_rows_are_reshuffled(rho):
    batch_size, reps, members = 20, 2, 3
    idx = indices(batch_size, members, rho, reps, seed=7)
    rows = batch_size * reps
    n_shuffled = int(rows * (1 - Fraction(str(rho))))
    for member in idx[1:]:
        np.testing.assert_array_equal(member[n_shuffled:], idx[0][n_shuffled:])
        # the head holds the same multiset of examples in another order
        np.testing.assert_array_equal(np.sort(member[:n_shuffled]), np.sort(idx[0][:n_shuffled]))
    assert any(not np.array_equal(m[:n_shuffled], idx[0][:n_shuffled]) for m in idx[1:])


def test_rho_one_gives_every_member_the_same_rows():
    idx = indices(16, 3, 1.0, 2, seed=0)
    np.testing.assert_array_equal(idx[0], idx[1])
    np.testing.assert_array_equal(idx[0], idx[2])


def test_rho_zero_members_are_independent_permutations():
    # P(two members hold the same example at a row) is 1/B for independent
    # permutations; over many draws the frequency must be close to it.
    batch_size = 10
    same = [
        np.mean(indices(batch_size, 2, 0.0, 1, seed=s)[0] == indices(batch_size, 2, 0.0, 1, seed=s)[1])
        for s in range(200)
    ]
    assert abs(np.mean(same) - 1 / batch_size) < 0.03


def test_same_int_seed_same_batch_and_other_seed_differs():
    np.testing.assert_array_equal(indices(32, 3, 0.0, 2, seed=5), indices(32, 3, 0.0, 2, seed=5))
    assert not np.array_equal(indices(32, 3, 0.0, 2, seed=5), indices(32, 3, 0.0, 2, seed=6))


def test_seed_generator_gives_a_new_batch_every_call_and_is_reproducible():
    first = keras.random.SeedGenerator(11)
    a, b = indices(32, 2, 0.0, 1, seed=first), indices(32, 2, 0.0, 1, seed=first)
    assert not np.array_equal(a, b)
    second = keras.random.SeedGenerator(11)
    np.testing.assert_array_equal(indices(32, 2, 0.0, 1, seed=second), a)


def test_dynamic_batch_size_tensor_is_accepted():
    idx = indices(keras.ops.convert_to_tensor(6), 2, 0.5, 2, seed=1)
    assert idx.shape == (2, 12)


def test_gather_members_gathers_inputs_labels_and_weights_with_the_same_indices():
    x = np.arange(12, dtype="float32").reshape(6, 2)
    y = np.arange(6, dtype="int32")
    w = np.arange(6, dtype="float32") * 10
    idx = mimo_batch_indices(6, 3, 0.0, 2, seed=2)
    sx, sy, sw = (keras.ops.convert_to_numpy(t) for t in gather_members((x, y, w), idx))
    flat = keras.ops.convert_to_numpy(idx).reshape(-1)
    assert sx.shape == (36, 2)
    np.testing.assert_array_equal(sx[:, 0] / 2, flat)
    np.testing.assert_array_equal(sy, flat)
    np.testing.assert_array_equal(sw, flat * 10)
    assert gather_members(None, idx) is None


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(ensemble_size=0), ValueError, "ensemble_size"),
        (dict(ensemble_size=2.0), TypeError, "ensemble_size"),
        (dict(input_repetition_probability=1.5), ValueError, "input_repetition_probability"),
        (dict(input_repetition_probability=-0.1), ValueError, "input_repetition_probability"),
        (dict(batch_repetitions=0), ValueError, "batch_repetitions"),
        (dict(batch_repetitions=1.5), TypeError, "batch_repetitions"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, error, match):
    args = dict(batch_size=4, ensemble_size=2, input_repetition_probability=0.0, batch_repetitions=1)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        mimo_batch_indices(**args)
