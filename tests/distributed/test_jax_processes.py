"""Two local JAX processes (gloo collectives over loopback) train one MIMOModel.

`keras.distribution.initialize` joins the processes; `DataParallel` spans
both processes' devices; each process feeds its own shard of every global
batch (`auto_shard_dataset=False`).
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

pytestmark = pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX's distributed runtime")

WORKER = """
import json, os, sys
import jax
jax.config.update("jax_cpu_collectives_implementation", "gloo")
import keras, numpy as np, keras_mimo

process_id, out_dir = int(os.environ["KERAS_DISTRIBUTION_PROCESS_ID"]), sys.argv[1]
keras.distribution.initialize()  # reads KERAS_DISTRIBUTION_JOB_ADDRESSES, _NUM_PROCESSES, _PROCESS_ID
keras.distribution.set_distribution(keras.distribution.DataParallel(auto_shard_dataset=False))
keras.utils.set_random_seed(0)
inputs = keras.Input((4,))
h = keras_mimo.MIMOInput(2)(inputs)
h = keras.layers.Dense(16, activation="relu")(h)
out = keras_mimo.MIMOHead(4, 2, activation="softmax")(h)
model = keras_mimo.MIMOModel(inputs, out, batch_repetitions=2, seed=3)
model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy", metrics=["accuracy"])
x = np.random.default_rng(0).random((64, 4)).astype("float32"); y = (np.arange(64) % 4).astype("int32")
local = slice(process_id * 32, (process_id + 1) * 32)  # this process's 4 rows of every global batch of 8
history = model.fit(x[local], y[local], batch_size=4, epochs=2, shuffle=False, verbose=0)
scores = model.evaluate(x[local], y[local], batch_size=4, verbose=0, return_dict=True)
members = model.predict_members(x[local], batch_size=4, verbose=0)
ensemble = model.predict(x[local], batch_size=4, verbose=0)
# saving gathers the variables collectively: every process saves, process 0 keeps the file
model.save(os.path.join(out_dir, "model.keras" if process_id == 0 else f"scratch_{process_id}.keras"))
np.savez(os.path.join(out_dir, f"process_{process_id}.npz"), members=members, ensemble=ensemble,
         *model.get_weights())
print(json.dumps({"process": process_id, "devices": len(jax.devices()), "loss": history.history["loss"],
                  "eval": scores}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def run_two_processes(argv) -> list:
    """Runs `argv` as processes 0 and 1 of a local JAX job (one CPU device each); their stdouts."""
    port = free_port()
    workers = []
    for process_id in range(2):
        env = dict(
            os.environ,
            KERAS_BACKEND="jax",
            KERAS_DISTRIBUTION_JOB_ADDRESSES=f"localhost:{port}",
            KERAS_DISTRIBUTION_NUM_PROCESSES="2",
            KERAS_DISTRIBUTION_PROCESS_ID=str(process_id),
            XLA_FLAGS="--xla_force_host_platform_device_count=1",
        )
        workers.append(
            subprocess.Popen(
                [sys.executable, *argv], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    outputs = []
    for worker in workers:
        stdout, stderr = worker.communicate(timeout=600)
        assert worker.returncode == 0, stderr[-4000:]
        outputs.append(stdout)
    return outputs


@pytest.mark.large(backends=("jax",))
def test_two_processes_train_one_mimo_model(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER))
    results = [json.loads(out.strip().splitlines()[-1]) for out in run_two_processes([str(script), str(tmp_path)])]
    assert [r["devices"] for r in results] == [2, 2]  # one global mesh over both processes
    assert results[0]["loss"] == results[1]["loss"] and all(np.isfinite(results[0]["loss"]))
    assert results[0]["eval"] == results[1]["eval"]
    arrays = [np.load(tmp_path / f"process_{i}.npz") for i in range(2)]
    weights = [[a[f"arr_{k}"] for k in range(len(a.files) - 2)] for a in arrays]
    for w0, w1 in zip(*weights):
        np.testing.assert_array_equal(w0, w1)  # replicated: identical on both processes
    # each process predicted its own 32 rows; they agree with the saved model run here
    import keras_mimo

    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(loaded, keras_mimo.MIMOModel)
    for w, saved in zip(weights[0], loaded.get_weights()):
        np.testing.assert_array_equal(w, saved)
    x = np.random.default_rng(0).random((64, 4)).astype("float32")
    for i, a in enumerate(arrays):
        rows = x[i * 32 : (i + 1) * 32]
        assert a["members"].shape == (32, 2, 4)
        np.testing.assert_allclose(a["members"], loaded.predict_members(rows, verbose=0), atol=1e-5)
        np.testing.assert_allclose(a["ensemble"], loaded.predict(rows, verbose=0), atol=1e-5)


@pytest.mark.large(backends=("jax",))
def test_cifar_example_runs_under_two_processes(tiny_npz, tmp_path):
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2]
    out = tmp_path / "run"
    run_two_processes(
        [
            str(root / "examples" / "cifar_resnet.py"),
            f"--npz_dir={tiny_npz}",
            "--depth=10",
            "--width_multiplier=1",
            "--epochs=1",
            "--batch_size=16",
            "--batch_repetitions=2",
            "--virtual_batch_size=8",
            "--verbose=0",
            "--train_examples=64",
            "--test_examples=8",
            "--distribution=data_parallel",
            "--jax_processes",
            "--pipeline=numpy",
            f"--output_dir={out}",
        ]
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["processes"] == 2 and metrics["replicas"] == 2 and metrics["unique_batch"] == 16
    assert 0.0 <= metrics["test"]["accuracy"] <= 1.0 and np.isfinite(metrics["test"]["nll"])
    assert not (out / ".process_1" / "metrics.json").exists()  # process 0 alone writes the outputs
    import keras_mimo

    assert isinstance(keras.saving.load_model(out / "model.keras"), keras_mimo.MIMOModel)
