r"""A MIMO model trained with PyTorch DistributedDataParallel (torch backend).

Keras 3.15's torch trainer has no distribution support, so `fit` runs on
one device per process. This loop is the path that works today: each rank
forms the MIMO batch of its own shard (`form_training_batch` folds the rank
into the shuffling seed, so ranks draw different permutations), runs the
DDP-wrapped model on the stacked rows, and DDP averages the gradients
before the model's own Keras optimizer applies them.

    # 2 processes on one machine (CPU: gloo; GPUs: nccl, one GPU per rank)
    KERAS_BACKEND=torch torchrun --nproc_per_node 2 examples/torch_ddp.py
    KERAS_BACKEND=torch python examples/torch_ddp.py --spawn 2     # the same, without torchrun

Each rank trains on its own shard of the data (here: every world_size-th
example); `--batch_size` is the unique examples per rank and step.
"""

import argparse
import os


def build_model(ensemble_size=2, features=8, classes=4):
    """A small MIMO MLP (stand-in for the user's model)."""
    import keras

    import keras_mimo

    inputs = keras.Input((features,))
    x = keras_mimo.MIMOInput(ensemble_size)(inputs)
    x = keras.layers.Dense(32, activation="relu")(x)
    outputs = keras_mimo.MIMOHead(classes, ensemble_size, activation="softmax")(x)
    model = keras_mimo.MIMOModel(inputs, outputs, batch_repetitions=2, seed=0)
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)
    return model


def train_step(model, ddp_model, x, y):
    """One MIMO step: this rank's batch, DDP-averaged gradients, the model's optimizer.

    Returns the rank's loss (members summed, as `fit` reports it).
    """
    import keras

    x_rows, y_rows, w_rows = keras.utils.unpack_x_y_sample_weight(model.form_training_batch((x, y)))
    model.zero_grad()
    with model.stacked_rows():
        y_pred = ddp_model(x_rows, training=True)  # DDP syncs the gradients in backward()
        loss = model.compute_loss(x_rows, y_rows, y_pred, w_rows, training=True)
    loss.backward()
    trainable = model.trainable_variables
    model.optimizer.apply([v.value.grad for v in trainable], trainable)
    return float(loss.detach())


def train(rank, world_size, x, y, steps=5, batch_size=8, epochs=1, on_step=None):
    """Trains `build_model()` on this rank's shard; returns the model.

    `on_step(step, model, loss)` is called after each step (tests record
    gradients and weights there).
    """
    import torch
    from torch.nn.parallel import DistributedDataParallel

    model = build_model(features=x.shape[1])
    device = next(model.parameters()).device
    ddp_model = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    x_rank, y_rank = x[rank::world_size], y[rank::world_size]  # this rank's shard
    step = 0
    for _ in range(epochs):
        for start in range(0, len(x_rank) - batch_size + 1, batch_size):
            if step == steps:
                return model
            xb = torch.as_tensor(x_rank[start : start + batch_size], device=device)
            yb = torch.as_tensor(y_rank[start : start + batch_size], device=device)
            loss = train_step(model, ddp_model, xb, yb)
            if on_step is not None:
                on_step(step, model, loss)
            step += 1
    return model


def _worker(rank, world_size, port, args):
    import numpy as np
    import torch.distributed as dist

    os.environ.setdefault("MASTER_ADDR", "localhost")
    os.environ.setdefault("MASTER_PORT", str(port))
    backend = "nccl" if _cuda() else "gloo"
    dist.init_process_group(backend, rank=rank, world_size=world_size)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1024, 8)).astype("float32")
    y = (x[:, :4].argmax(1)).astype("int64")

    def report(step, model, loss):
        if rank == 0 and step % 10 == 0:
            print(f"step {step}: rank-0 loss {loss:.4f}", flush=True)

    train(rank, world_size, x, y, steps=args.steps, batch_size=args.batch_size, epochs=100, on_step=report)
    dist.destroy_process_group()


def _cuda():
    import torch

    return torch.cuda.is_available()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spawn", type=int, default=0, help="start this many local ranks (instead of torchrun)")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch_size", type=int, default=16, help="unique examples per rank and step")
    args = parser.parse_args(argv)
    if args.spawn:
        import socket

        import torch.multiprocessing as mp

        with socket.socket() as s:
            s.bind(("localhost", 0))
            port = s.getsockname()[1]
        mp.spawn(_worker, args=(args.spawn, port, args), nprocs=args.spawn)
    else:  # under torchrun: RANK, WORLD_SIZE, MASTER_ADDR/PORT come from the launcher
        _worker(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), os.environ.get("MASTER_PORT", 29500), args)


if __name__ == "__main__":
    main()
