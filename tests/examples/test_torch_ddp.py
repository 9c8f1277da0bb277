"""examples/torch_ddp.py: two gloo ranks on CPU (torch.multiprocessing) train one MIMO model."""

import os
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

pytestmark = [
    pytest.mark.skipif(keras.backend.backend() != "torch", reason="PyTorch DDP"),
    pytest.mark.large(backends=("torch",)),
]

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"

SCRIPT = """
import os, socket, sys
import numpy as np
import keras
import torch.distributed as dist
import torch.multiprocessing as mp
import torch_ddp

OUT = {out!r}


def worker(rank, port):
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "localhost", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    probe = torch_ddp.build_model()  # the same seed state on both ranks
    same_input = np.arange(8, dtype="float32")[:, None] * np.ones((1, 8), "float32")
    rows = keras.ops.convert_to_numpy(probe.form_training_batch(same_input))[:, 0]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 8)).astype("float32")
    y = x[:, :4].argmax(1).astype("int64")
    grads, losses = [], []

    def record(step, model, loss):
        grads.append(np.concatenate([keras.ops.convert_to_numpy(v.value.grad).ravel()
                                     for v in model.trainable_variables]))
        losses.append(loss)

    model = torch_ddp.train(rank, 2, x, y, steps=4, batch_size=8, on_step=record)
    np.savez(os.path.join(OUT, f"rank{{rank}}.npz"), grads=np.stack(grads), losses=np.array(losses), rows=rows,
             weights=np.concatenate([w.ravel() for w in model.get_weights()]))
    dist.destroy_process_group()


if __name__ == "__main__":
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    mp.spawn(worker, args=(port,), nprocs=2)
"""


def test_two_ranks_sync_gradients_and_end_with_equal_weights(tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(textwrap.dedent(SCRIPT.format(out=str(tmp_path))))
    # the examples' folder on the children's path (the spawned ranks import torch_ddp too)
    path = os.pathsep.join(filter(None, [str(EXAMPLES), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, KERAS_BACKEND="torch", OMP_NUM_THREADS="1", PYTHONPATH=path)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    r0, r1 = (np.load(tmp_path / f"rank{r}.npz") for r in range(2))
    assert len(r0["losses"]) == 4
    assert not np.allclose(r0["losses"], r1["losses"])  # each rank trains on its own shard ...
    np.testing.assert_allclose(r0["grads"], r1["grads"], rtol=1e-5, atol=1e-7)  # ... with averaged gradients
    assert np.abs(r0["grads"]).max() > 0
    np.testing.assert_allclose(r0["weights"], r1["weights"], rtol=1e-6, atol=1e-7)
    # the rank is folded into the shuffling seed: same state, same input, different permutations
    assert sorted(r0["rows"]) == sorted(r1["rows"]) and not np.array_equal(r0["rows"], r1["rows"])


def test_documented_command_parses(example):
    torch_ddp = example("torch_ddp")
    with pytest.raises(SystemExit):
        torch_ddp.main(["--help"])
