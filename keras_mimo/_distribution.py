"""Distribution helpers of the training step: each replica's seed, the data shards.

`MIMOModel.form_training_batch` asks these where a batch is formed: under
`tf.distribute` and `torch.distributed` each replica (rank) folds its id
into the shuffling seed (`replica_seed`); under a JAX `keras.distribution`
the global batch is split into `data_shards()` contiguous shards, each
forming its members' rows from its own examples
(`keras_mimo.batching.shard_batch_indices`).
"""

import keras
from keras import ops

__all__ = ["data_shards", "replica_id", "replica_seed"]


def replica_seed(seed_generator):
    """The shuffling seed of one training step on this replica.

    Under a multi-replica `tf.distribute` strategy all replicas read the
    same mirrored seed state, and under `torch.distributed` every rank holds
    the same state; the replica id (rank) is folded in, so each replica
    draws its own permutations of its own shard, as the reference does per
    core. Elsewhere the generator itself is the seed (a JAX data-parallel
    step draws every shard's permutations at once: `data_shards`).

    Raises:
        TypeError: naming `seed_generator` unless it is a `keras.random.SeedGenerator`.
    """
    if not isinstance(seed_generator, keras.random.SeedGenerator):
        raise TypeError(
            "`seed_generator` must be a keras.random.SeedGenerator (the model's shuffling state). "
            f"Received: seed_generator={seed_generator!r} of type {type(seed_generator).__name__}"
        )
    replica, replicas = replica_id()
    if replicas == 1:
        return seed_generator
    seed = seed_generator.next()
    offset = ops.cast(ops.stack([0, replica]), seed.dtype)
    return seed + offset


def replica_id() -> tuple:
    """`(replica id, replicas)` of a per-replica step: tf.distribute or torch.distributed."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            return context.replica_id_in_sync_group, context.num_replicas_in_sync
    elif backend == "torch":
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            return dist.get_rank(), dist.get_world_size()
    return 0, 1


def data_shards() -> int:
    """Devices a JAX `keras.distribution` splits each batch across; 1 elsewhere.

    Under `DataParallel` (or any distribution that shards the batch axis)
    JAX compiles one program over the global batch, split into this many
    contiguous shards in device order; forming each shard's MIMO rows from
    its own examples keeps the step data-parallel.
    """
    if keras.backend.backend() != "jax":
        return 1
    distribution = keras.distribution.distribution()
    if distribution is None:
        return 1
    axes = distribution.get_data_layout((None, 1)).axes[0]
    mesh = distribution.device_mesh
    shards = 1
    for axis in (axes,) if isinstance(axes, str) else (axes or ()):
        shards *= mesh.shape[mesh.axis_names.index(axis)]
    return shards
