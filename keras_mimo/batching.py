"""MIMO batch formation as pure functions of a batch.

A MIMO training step takes `B` unique examples and builds, for each of the
`M` ensemble members, `b * B` rows (`b` = batch repetitions):

1. every example is repeated `b` times and the `b * B` rows are shuffled once;
2. the first `floor(b * B * (1 - rho))` rows are shuffled again,
   independently for each member; the remaining tail rows are shared by all
   members in the same order (`rho` = input repetition probability).

The members' rows are then stacked example-major along the batch axis:
row `r * M + m` is member `m`'s `r`-th row, so the `M` rows of one position
are adjacent. This "stacked" layout keeps the model's declared input shape,
which is what lets Keras's `fit`, `evaluate`, `predict` and saving work
unchanged on every backend, and a contiguous block of rows holds every
member of its own examples: split across `D` devices (a data-parallel
step, `num_shards`), each device forms, runs and scores its own block.

References:
    Havasi et al., "Training independent subnetworks for robust
    prediction", ICLR 2021.
"""

import math
import numbers
from fractions import Fraction

import keras
import numpy as np
from keras import ops

from keras_mimo._validation import check_count
from keras_mimo._validation import check_ensemble_size
from keras_mimo._validation import check_positive_int
from keras_mimo._validation import check_probability
from keras_mimo._validation import check_seed

__all__ = ["form_training_batch", "mimo_batch_indices", "shard_batch_indices", "shuffled_row_count"]

# `1 - rho` is applied as an exact fraction with at most this denominator, so
# the shuffled-row count never rounds down by one through float error
# (e.g. 90 * (1 - 0.3) = 62.99999999999999 in float arithmetic).
_MAX_FRACTION_DENOMINATOR = 1000


def shuffled_row_count(num_rows, input_repetition_probability: float):
    """Number of rows each member reshuffles: `floor(num_rows * (1 - rho))`.

    Computed in integer arithmetic. `num_rows` may be a Python or numpy int
    >= 0 or a scalar integer tensor (a dynamic batch size).
    """
    num_rows = _size(num_rows, "num_rows")
    rho = check_probability(input_repetition_probability, "input_repetition_probability")
    keep = Fraction(1.0 - rho).limit_denominator(_MAX_FRACTION_DENOMINATOR)
    return (num_rows * keep.numerator) // keep.denominator


def _size(value, name: str):
    """A row count: a Python or numpy int >= 0 as an int; a tensor (a dynamic size) as it is."""
    if isinstance(value, (numbers.Number, np.ndarray)) and not (isinstance(value, np.ndarray) and value.ndim):
        return check_count(value, name, minimum=0)
    return value


def _batch_seed(seed):
    """`seed` for `_uniform`: a numpy integer becomes an int; a float or a bool raises naming `seed`."""
    if seed is None or isinstance(seed, keras.random.SeedGenerator) or ops.is_tensor(seed):
        return seed
    if isinstance(seed, (numbers.Number, np.generic)):
        return check_seed(seed)
    return seed  # a drawn seed (an array of two ints)


def _uniform(shape, seed):
    """`keras.random.uniform`, also for an already drawn seed tensor `(2,)`.

    Keras's TF and torch backends accept only int / None / SeedGenerator
    seeds; a seed tensor (per-replica seeds) goes to TF's stateless op, or on
    torch (eager) becomes one int seed.
    """
    if isinstance(seed, (int, type(None), keras.random.SeedGenerator)):
        return keras.random.uniform(shape, seed=seed)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.random.stateless_uniform(shape, seed=tf.cast(seed, "int32"))
    if backend == "torch":
        first, second = (int(v) & 0xFFFFFFFF for v in ops.convert_to_numpy(seed))
        return keras.random.uniform(shape, seed=(first * 0x9E3779B1 + second) & 0x7FFFFFFF)
    return keras.random.uniform(shape, seed=seed)


def mimo_batch_indices(
    batch_size,
    ensemble_size: int,
    input_repetition_probability: float = 0.0,
    batch_repetitions: int = 1,
    seed=None,
):
    """Row indices of every member's training batch.

    Args:
        batch_size: int or scalar int tensor, `B`, the number of unique
            examples in the batch.
        ensemble_size: int, `M`, the number of members.
        input_repetition_probability: float in [0, 1], `rho`, the fraction of
            rows (the tail of the shared shuffle) that all members share.
        batch_repetitions: int >= 1, `b`, copies of each example.
        seed: int, `None`, `keras.random.SeedGenerator`, or a drawn seed
            tensor of shape `(2,)`. All randomness is drawn in one call, so an
            int seed gives one fixed batch.

    Returns:
        int32 tensor of shape `(ensemble_size, batch_repetitions * batch_size)`
        with values in `[0, batch_size)`: member `m` takes `x[indices[m]]`.

    Raises:
        ValueError / TypeError: naming the argument, for a negative or
            fractional `batch_size`, an `ensemble_size` or
            `batch_repetitions` that is not an int >= 1, a probability
            outside [0, 1], or a float `seed`. Numpy integers and floats are
            accepted as Python's.
    """
    batch_size = _size(batch_size, "batch_size")
    return shard_batch_indices(batch_size, 1, ensemble_size, input_repetition_probability, batch_repetitions, seed)[0]


def shard_batch_indices(
    shard_size,
    num_shards: int,
    ensemble_size: int,
    input_repetition_probability: float = 0.0,
    batch_repetitions: int = 1,
    seed=None,
):
    """Every shard's own member row indices, drawn in one call.

    Shard `s` holds the unique examples `[s * Bs, (s + 1) * Bs)` of the batch
    and its members draw only from them, with their own permutations (the
    reference forms each TPU core's batch from its own examples).

    Args:
        shard_size: int or scalar int tensor, `Bs`, unique examples per shard.
        num_shards: int, `D`.
        ensemble_size, input_repetition_probability, batch_repetitions, seed:
            as in `mimo_batch_indices`.

    Returns:
        int32 tensor `(num_shards, ensemble_size, batch_repetitions * Bs)`
        with values in `[0, Bs)`, local to each shard.
    """
    ensemble_size = check_ensemble_size(ensemble_size)
    num_shards = check_positive_int(num_shards, "num_shards")
    batch_repetitions = check_positive_int(batch_repetitions, "batch_repetitions")
    seed = _batch_seed(seed)
    shard_size = _size(shard_size, "shard_size")
    num_rows = shard_size * batch_repetitions
    num_shuffled = shuffled_row_count(num_rows, input_repetition_probability)
    if isinstance(num_rows, int) and not num_rows:  # an empty batch: no rows to draw
        return ops.zeros((num_shards, ensemble_size, 0), "int32")

    # One draw: per shard, row 0 orders the shared shuffle, rows 1..M the members'.
    keys = _uniform((num_shards, ensemble_size + 1, num_rows), seed)
    repeated = ops.tile(ops.arange(shard_size, dtype="int32"), [batch_repetitions])
    shared = ops.take(repeated, ops.argsort(keys[:, 0], axis=-1))  # (D, R)

    # Tail rows get keys above every uniform key, in increasing order, so the
    # argsort leaves them in place and permutes only the head.
    position = ops.arange(num_rows, dtype="int32")
    in_head = ops.reshape(position < num_shuffled, (1, 1, -1))
    tail_keys = ops.reshape(2.0 + ops.cast(position, keys.dtype), (1, 1, -1))
    member_keys = ops.where(in_head, keys[:, 1:], tail_keys)
    member_order = ops.argsort(member_keys, axis=-1)  # (D, M, R)
    shared = ops.broadcast_to(ops.expand_dims(shared, 1), ops.shape(member_order))
    return ops.cast(ops.take_along_axis(shared, member_order, axis=-1), "int32")


def gather_members(structure, indices):
    """Gathers every member's rows by index and stacks them example-major.

    Args:
        structure: a tensor of shape `(B, ...)`, or a nest of them, or `None`.
        indices: int tensor `(M, R)` from `mimo_batch_indices`, or
            `(D, M, R)` from `shard_batch_indices` (`B` divisible by `D`;
            shard `s` gathers from its own block of `B / D` rows).

    Returns:
        The same nest with tensors of shape `(R * M, ...)` (`(D * R * M, ...)`
        for shards: each shard's rows in one contiguous block).
    """
    if len(indices.shape) == 2:
        indices = ops.expand_dims(indices, 0)
    num_shards = indices.shape[0]
    # (D, M, R) -> (D, R * M, 1): row r * M + m of shard s is x_s[indices[s, m, r]]
    rows = ops.reshape(ops.transpose(indices, (0, 2, 1)), (num_shards, -1, 1))

    def gather(tensor):
        if tensor is None:
            return None
        shape = ops.shape(tensor)
        # a batched gather per shard: local rows only, so a data-parallel
        # step partitions it without moving rows between devices
        flat = ops.reshape(tensor, (num_shards, -1, math.prod(shape[1:])))
        gathered = ops.take_along_axis(flat, rows, axis=1)
        return ops.reshape(gathered, (-1,) + tuple(shape[1:]))

    return keras.tree.map_structure(gather, structure)


def form_training_batch(
    data,
    ensemble_size: int,
    input_repetition_probability: float = 0.0,
    batch_repetitions: int = 1,
    seed=None,
    num_shards: int = 1,
):
    """The stacked MIMO training batch built from one data batch.

    Args:
        data: `x`, `(x, y)` or `(x, y, sample_weight)` with `B` rows; each
            of them a tensor or a nest of tensors (several inputs, outputs).
        ensemble_size, input_repetition_probability, batch_repetitions, seed:
            as in `mimo_batch_indices`.
        num_shards: int, `D`: the batch is `D` contiguous shards (one per
            device of a data-parallel step), each forming its members' rows
            from its own examples with its own permutations.
            `B` must be divisible by `D`.

    Returns:
        The same structure, every tensor `(b * B * M, ...)`: each member's
        rows gathered with the same indices for inputs, labels and weights,
        stacked example-major within each shard, shards one after another.
    """
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    batch_size = ops.shape(keras.tree.flatten(x)[0])[0]
    _check_rows(data, batch_size)
    num_shards = check_positive_int(num_shards, "num_shards")
    if num_shards > 1 and isinstance(batch_size, int) and batch_size % num_shards:
        raise ValueError(
            f"A data-parallel MIMO step splits each batch across `num_shards`={num_shards} "
            f"devices: `batch_size` must be divisible by {num_shards}. "
            f"Received: a batch of {batch_size} examples."
        )
    indices = shard_batch_indices(
        batch_size // num_shards,
        num_shards,
        ensemble_size,
        input_repetition_probability,
        batch_repetitions,
        seed=seed,
    )
    x, y, sample_weight = gather_members((x, y, sample_weight), indices)
    return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)


def _check_rows(data, batch_size):
    """A ValueError naming `data` unless every tensor of `data` has `batch_size` rows (static sizes)."""
    if not isinstance(batch_size, int):
        return
    for tensor in keras.tree.flatten(data):
        rows = tensor.shape[0] if tensor is not None and len(tensor.shape) else None
        if isinstance(rows, int) and rows != batch_size:
            raise ValueError(
                f"`data`: every tensor of `x`, `y` and `sample_weight` must have one row per example; `x` has "
                f"{batch_size} rows but a tensor of shape {tuple(tensor.shape)} has {rows}."
            )
