from fractions import Fraction

import keras
import numpy as np
import pytest

from keras_mimo.batching import form_training_batch
from keras_mimo.batching import gather_members
from keras_mimo._rows import members_last
from keras_mimo._rows import merge_members
from keras_mimo.batching import mimo_batch_indices
from keras_mimo.batching import shard_batch_indices
from keras_mimo.batching import shuffled_row_count
from keras_mimo._rows import split_members
from keras_mimo._rows import tile_members


def indices(*args, **kwargs):
    return keras.ops.convert_to_numpy(mimo_batch_indices(*args, **kwargs))


@pytest.mark.parametrize("batch_size,ensemble_size,reps", [(8, 3, 1), (5, 2, 4), (1, 4, 2)])
def test_every_member_sees_each_example_batch_repetitions_times(batch_size, ensemble_size, reps):
    idx = indices(batch_size, ensemble_size, 0.0, reps, seed=3)
    assert idx.shape == (ensemble_size, reps * batch_size)
    assert idx.dtype == np.int32
    for member in idx:
        np.testing.assert_array_equal(np.bincount(member, minlength=batch_size), reps)


@pytest.mark.parametrize("rows,rho", [(10, 0.6), (512, 0.0), (4096, 0.6), (100, 0.7), (7, 1.0), (30, 0.1)])
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
    flat = keras.ops.convert_to_numpy(idx).T.reshape(-1)  # example-major: row r * M + m is idx[m, r]
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


def test_shards_draw_from_their_own_examples_with_their_own_permutations():
    idx = keras.ops.convert_to_numpy(shard_batch_indices(16, 4, 3, 0.25, 2, seed=5))
    assert idx.shape == (4, 3, 32) and idx.min() >= 0 and idx.max() < 16  # local to each shard
    for shard in idx:
        for member in shard:
            np.testing.assert_array_equal(np.bincount(member, minlength=16), 2)
        # rho = 0.25: the last 8 rows are shared by the shard's members
        assert (shard[:, -8:] == shard[0, -8:]).all()
    orders = {tuple(member) for shard in idx for member in shard}
    assert len(orders) == 4 * 3  # no two shards (or members) get the same permutation


def test_sharded_batch_keeps_each_shards_rows_in_its_own_block():
    ids = np.arange(12, dtype="float32")
    x, y = np.stack([ids, -ids], axis=1), ids.astype("int32")
    sx, sy = (keras.ops.convert_to_numpy(t) for t in form_training_batch((x, y), 2, 0.0, 2, seed=1, num_shards=3))
    assert sx.shape == (3 * 2 * 4 * 2, 2)
    np.testing.assert_array_equal(sx[:, 0], sy)
    np.testing.assert_array_equal(sx[:, 1], -sy)
    for shard, block in enumerate(sy.reshape(3, -1)):  # shard s: rows of examples 4s..4s+3 only
        assert set(block) == set(range(4 * shard, 4 * shard + 4))
        members = block.reshape(-1, 2).T  # example-major inside the block: row r * M + m
        for member in members:
            np.testing.assert_array_equal(np.bincount(member - 4 * shard, minlength=4), 2)


def test_one_shard_is_the_unsharded_batch():
    x = np.arange(10, dtype="float32")[:, None]
    idx = mimo_batch_indices(10, 3, 0.3, 2, seed=4)
    expected = keras.ops.convert_to_numpy(gather_members(x, idx))
    got = keras.ops.convert_to_numpy(form_training_batch(x, 3, 0.3, 2, seed=4))
    np.testing.assert_array_equal(got, expected)


def test_a_batch_not_divisible_by_the_shards_is_refused():
    x = np.zeros((15, 2), "float32")
    with pytest.raises(ValueError, match="batch_size.*divisible by 2"):
        form_training_batch(x, 2, num_shards=2)


def test_layout_helpers_agree():
    members = np.arange(3 * 4 * 2, dtype="float32").reshape(3, 4, 2)  # (M, R, ...)
    stacked = keras.ops.convert_to_numpy(merge_members(members))
    np.testing.assert_array_equal(stacked[1 * 3 + 2], members[2, 1])  # row r * M + m
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(split_members(stacked, 3)), members)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(members_last(stacked, 3)), members.transpose(1, 0, 2))
    tiled = keras.ops.convert_to_numpy(tile_members(members[0], 3))
    np.testing.assert_array_equal(tiled[::3], members[0])
    np.testing.assert_array_equal(tiled[2::3], members[0])


def test_the_replica_helpers_outside_a_distribution():
    from keras_mimo import _distribution

    generator = keras.random.SeedGenerator(0)
    assert _distribution.replica_seed(generator) is generator  # one replica: the generator itself
    assert _distribution.replica_id() == (0, 1)
    assert _distribution.data_shards() == 1
    with pytest.raises(TypeError, match="seed_generator"):
        _distribution.replica_seed("seed")
