"""MIMO batch formation as pure functions of a batch.

A MIMO training step takes `B` unique examples and builds, for each of the
`M` ensemble members, `b * B` rows (`b` = batch repetitions):

1. every example is repeated `b` times and the `b * B` rows are shuffled once;
2. the first `floor(b * B * (1 - rho))` rows are shuffled again,
   independently for each member; the remaining tail rows are shared by all
   members in the same order (`rho` = input repetition probability).

The members' rows are then stacked member-major along the batch axis:
rows `[m * b * B, (m + 1) * b * B)` belong to member `m`. This "stacked"
layout keeps the model's declared input shape, which is what lets Keras's
`fit`, `evaluate`, `predict` and saving work unchanged on every backend.

References:
    Havasi et al., "Training independent subnetworks for robust
    prediction", ICLR 2021.
"""

from fractions import Fraction

import keras
from keras import ops

from keras_mimo._validation import check_ensemble_size
from keras_mimo._validation import check_positive_int
from keras_mimo._validation import check_probability

# `1 - rho` is applied as an exact fraction with at most this denominator, so
# the shuffled-row count never rounds down by one through float error
# (e.g. 90 * (1 - 0.3) = 62.99999999999999 in float arithmetic).
_MAX_FRACTION_DENOMINATOR = 1000


def shuffled_row_count(num_rows, input_repetition_probability: float):
    """Number of rows each member reshuffles: `floor(num_rows * (1 - rho))`.

    Computed in integer arithmetic. `num_rows` may be a Python int or a
    scalar integer tensor (a dynamic batch size).
    """
    rho = check_probability(
        input_repetition_probability, "input_repetition_probability"
    )
    keep = Fraction(1.0 - rho).limit_denominator(_MAX_FRACTION_DENOMINATOR)
    return (num_rows * keep.numerator) // keep.denominator


def _uniform(shape, seed):
    """`keras.random.uniform`, also for an already drawn seed tensor on TF.

    Keras's TF backend accepts only int / None / SeedGenerator seeds; a seed
    tensor (per-replica seeds under tf.distribute) goes to TF's stateless op.
    """
    if keras.backend.backend() == "tensorflow" and not isinstance(
        seed, (int, type(None), keras.random.SeedGenerator)
    ):
        import tensorflow as tf

        return tf.random.stateless_uniform(shape, seed=tf.cast(seed, "int32"))
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
    """
    ensemble_size = check_ensemble_size(ensemble_size)
    batch_repetitions = check_positive_int(batch_repetitions, "batch_repetitions")
    num_rows = batch_size * batch_repetitions
    num_shuffled = shuffled_row_count(num_rows, input_repetition_probability)

    # One draw: row 0 orders the shared shuffle, rows 1..M the members'.
    keys = _uniform((ensemble_size + 1, num_rows), seed)
    repeated = ops.tile(ops.arange(batch_size, dtype="int32"), [batch_repetitions])
    shared = ops.take(repeated, ops.argsort(keys[0]))

    # Tail rows get keys above every uniform key, in increasing order, so the
    # argsort leaves them in place and permutes only the head.
    position = ops.arange(num_rows, dtype="int32")
    in_head = ops.expand_dims(position < num_shuffled, 0)
    tail_keys = 2.0 + ops.cast(position, keys.dtype)
    member_keys = ops.where(in_head, keys[1:], ops.expand_dims(tail_keys, 0))
    member_order = ops.argsort(member_keys, axis=-1)
    return ops.cast(ops.take(shared, member_order), "int32")


def replica_seed(seed_generator):
    """The shuffling seed of one training step on this replica.

    Under a multi-replica `tf.distribute` strategy all replicas read the
    same mirrored seed state; the replica id is folded in, so each replica
    draws its own permutations of its own shard, as the reference does per
    core. Elsewhere the generator itself is the seed.
    """
    if keras.backend.backend() != "tensorflow":
        return seed_generator
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return seed_generator
    seed = seed_generator.next()
    offset = ops.cast(ops.stack([0, context.replica_id_in_sync_group]), seed.dtype)
    return seed + offset


def gather_members(structure, indices):
    """Gathers every member's rows by index and stacks them member-major.

    Args:
        structure: a tensor of shape `(B, ...)`, or a nest of them, or `None`.
        indices: int tensor `(M, R)` from `mimo_batch_indices`.

    Returns:
        The same nest with tensors of shape `(M * R, ...)`.
    """
    flat_indices = ops.reshape(indices, (-1,))

    def gather(tensor):
        if tensor is None:
            return None
        return ops.take(tensor, flat_indices, axis=0)

    return keras.tree.map_structure(gather, structure)


def form_training_batch(
    data,
    ensemble_size: int,
    input_repetition_probability: float = 0.0,
    batch_repetitions: int = 1,
    seed=None,
):
    """The stacked MIMO training batch built from one data batch.

    Args:
        data: `x`, `(x, y)` or `(x, y, sample_weight)` with `B` rows; each
            of them a tensor or a nest of tensors (several inputs, outputs).
        ensemble_size, input_repetition_probability, batch_repetitions, seed:
            as in `mimo_batch_indices`.

    Returns:
        The same structure, every tensor `(M * b * B, ...)`: each member's
        rows gathered with the same indices for inputs, labels and weights,
        stacked member-major.
    """
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    indices = mimo_batch_indices(
        ops.shape(keras.tree.flatten(x)[0])[0],
        ensemble_size,
        input_repetition_probability,
        batch_repetitions,
        seed=seed,
    )
    x, y, sample_weight = gather_members((x, y, sample_weight), indices)
    return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)


def split_members(tensor, ensemble_size: int):
    """Reshapes stacked rows `(M * R, ...)` to `(M, R, ...)`."""
    shape = ops.shape(tensor)
    return ops.reshape(tensor, (ensemble_size, -1) + tuple(shape[1:]))


def split_member_structures(structure, ensemble_size: int) -> list:
    """Stacked nests (tensors `(M * R, ...)` or None) to one nest per member.

    Returns:
        A list of `ensemble_size` copies of `structure`, member `m`'s holding
        its rows `(R, ...)` of every tensor.
    """
    split = keras.tree.map_structure(
        lambda t: None if t is None else split_members(t, ensemble_size), structure
    )
    return [
        keras.tree.map_structure(lambda t: None if t is None else t[m], split)
        for m in range(ensemble_size)
    ]


def merge_members(tensor):
    """Reshapes `(M, R, ...)` to stacked rows `(M * R, ...)`."""
    shape = ops.shape(tensor)
    return ops.reshape(tensor, (-1,) + tuple(shape[2:]))


def tile_members(tensor, ensemble_size: int):
    """The same rows for every member: `(N, ...)` to stacked `(M * N, ...)`."""
    return ops.concatenate([tensor] * ensemble_size, axis=0)


def stack_inputs(inputs, ensemble_size: int, member_axes):
    """Prediction inputs to stacked rows `(M * N, ...)`, input by input.

    Args:
        inputs: a tensor or a nest of tensors.
        ensemble_size: `M`.
        member_axes: one bool per flattened input: False tiles `(N, ...)`
            (every member sees the same rows); True re-lays `(N, M, ...)` so
            member `m` sees `[:, m]`.
    """
    forms = iter(member_axes)

    def stack(tensor):
        if next(forms):
            return merge_members(ops.moveaxis(tensor, 1, 0))
        return tile_members(tensor, ensemble_size)

    return keras.tree.map_structure(stack, inputs)


def members_last(outputs, ensemble_size: int):
    """Stacked outputs `(M * N, ...)` (a tensor or a nest) to `(N, M, ...)`."""
    return keras.tree.map_structure(
        lambda t: ops.moveaxis(split_members(t, ensemble_size), 0, 1), outputs
    )
