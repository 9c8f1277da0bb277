"""The example-major stacked-row layout of a MIMO forward pass: its one set of primitives.

Row `r * M + m` of a stacked tensor `(R * M, ...)` is member `m`'s `r`-th
row (`keras_mimo.batching` forms training batches in this layout).
"""

import keras
from keras import ops


def members_last(outputs, ensemble_size: int):
    """Unstacks members: stacked rows `(N * M, ...)` (a tensor or a nest) to `(N, M, ...)`.

    With `stack_members`, the one pair of primitives of the example-major
    layout (row `n * M + m` is member `m`'s `n`-th row); every other view
    derives from them. `keras_mimo.layers.mimo_input.MemberRows` is the
    symbolic twin of `split_members` for Keras masks, a graph op.
    """

    def unstack(tensor):
        shape = ops.shape(tensor)
        return ops.reshape(tensor, (-1, ensemble_size) + tuple(shape[1:]))

    return keras.tree.map_structure(unstack, outputs)


def stack_members(members):
    """Stacks members: `(N, M, ...)` (a tensor or a nest) to stacked rows `(N * M, ...)`."""

    def stack(tensor):
        shape = ops.shape(tensor)
        return ops.reshape(tensor, (-1,) + tuple(shape[2:]))

    return keras.tree.map_structure(stack, members)


def split_members(tensor, ensemble_size: int):
    """Stacked rows `(R * M, ...)` to member-major `(M, R, ...)`: `members_last` with the axes swapped."""
    return ops.moveaxis(members_last(tensor, ensemble_size), 1, 0)


def split_member_structures(structure, ensemble_size: int) -> list:
    """Stacked nests (tensors `(R * M, ...)` or None) to one nest per member.

    Returns:
        A list of `ensemble_size` copies of `structure`, member `m`'s holding
        its rows `(R, ...)` of every tensor.
    """
    split = keras.tree.map_structure(lambda t: None if t is None else split_members(t, ensemble_size), structure)
    return [keras.tree.map_structure(lambda t: None if t is None else t[m], split) for m in range(ensemble_size)]


def merge_members(tensor):
    """Member-major `(M, R, ...)` to stacked rows `(R * M, ...)`: the inverse of `split_members`."""
    return stack_members(ops.moveaxis(tensor, 0, 1))


def tile_members(tensor, ensemble_size: int):
    """The same rows for every member: `(N, ...)` to stacked `(N * M, ...)`."""
    return ops.repeat(tensor, ensemble_size, axis=0)


def stack_inputs(inputs, ensemble_size: int, member_axes):
    """Prediction inputs to stacked rows `(N * M, ...)`, input by input.

    Args:
        inputs: a tensor or a nest of tensors.
        ensemble_size: `M`.
        member_axes: one bool per flattened input: False repeats `(N, ...)`
            (every member sees the same rows); True lays `(N, M, ...)` out
            so member `m` sees `[:, m]`.
    """
    forms = iter(member_axes)

    def stack(tensor):
        return stack_members(tensor) if next(forms) else tile_members(tensor, ensemble_size)

    return keras.tree.map_structure(stack, inputs)
