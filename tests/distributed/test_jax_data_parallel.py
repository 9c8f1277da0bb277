"""keras.distribution.DataParallel on two host devices (own process: XLA flags)."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import pytest

pytestmark = pytest.mark.skipif(keras.backend.backend() != "jax", reason="DataParallel is a JAX distribution")

SCRIPT = """
import json, keras, numpy as np, keras_mimo
keras.distribution.set_distribution(keras.distribution.DataParallel())
inputs = keras.Input((4,))
h = keras_mimo.MIMOInput(2)(inputs)
h = keras.layers.Dense(8, activation="relu")(h)
out = keras_mimo.MIMOHead(4, 2, activation="softmax")(h)
model = keras_mimo.MIMOModel(inputs, out, input_repetition_probability=1.0, seed=0)
model.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy")
x = np.random.default_rng(0).random((32, 4)).astype("float32"); y = np.arange(32) % 4
loss = float(model.train_on_batch(x, y))
members = model.predict_members(x, verbose=0)
expected = float(sum(-np.log(members[np.arange(32), m, y]).mean() for m in range(2)))
model.compile("adam", "sparse_categorical_crossentropy")
history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
print(json.dumps({"devices": len(keras.distribution.list_devices()), "loss": loss, "expected": expected,
                  "fit_loss": history.history["loss"]}))
"""


def test_data_parallel_on_two_host_devices():
    env = dict(os.environ, KERAS_BACKEND="jax", XLA_FLAGS="--xla_force_host_platform_device_count=2")
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT)], capture_output=True, text=True,
                            env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["devices"] == 2
    assert abs(out["loss"] - out["expected"]) < 1e-4 * out["expected"]
    assert all(v == v for v in out["fit_loss"])
