"""keras.distribution.DataParallel on two host devices (own processes: XLA flags).

The MIMO step is data-parallel: each device forms the MIMO rows of its own
shard of the unique batch and runs the backbone on them; the compiled step
moves gradients and scalars between devices, never input or activation rows.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import pytest

pytestmark = [
    pytest.mark.skipif(keras.backend.backend() != "jax", reason="DataParallel is a JAX distribution"),
    pytest.mark.large(backends=("jax",)),  # each test starts a process with two host devices
]


def run_on_two_devices(script):
    env = dict(os.environ, KERAS_BACKEND="jax", XLA_FLAGS="--xla_force_host_platform_device_count=2")
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


VALUES = """
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


def test_data_parallel_loss_is_the_members_summed_loss():
    out = run_on_two_devices(VALUES)
    assert out["devices"] == 2
    assert abs(out["loss"] - out["expected"]) < 1e-4 * out["expected"]
    assert all(v == v for v in out["fit_loss"])


HLO = """
import json, re, jax, keras, numpy as np, keras_mimo
keras.distribution.set_distribution(keras.distribution.DataParallel())
COLLECTIVES = ("all-reduce", "all-gather", "all-to-all", "collective-permute", "reduce-scatter")

def build(mimo):
    inputs = keras.Input((8, 8, 3))
    h = keras_mimo.MIMOInput(2)(inputs) if mimo else inputs
    h = keras.layers.Conv2D(8, 3, padding="same", name="conv")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    if mimo:
        out = keras_mimo.MIMOHead(4, 2, activation="softmax")(h)
        return keras_mimo.MIMOModel(inputs, out, batch_repetitions=2, seed=0)
    return keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(h))

def compiled_step(model):
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((16, 8, 8, 3)).astype("float32"); y = np.arange(16) % 4
    model.train_on_batch(x, y)  # builds the optimizer and metrics
    mesh = jax.sharding.Mesh(jax.devices(), ("batch",))
    rows = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))
    data = (jax.device_put(x, rows), jax.device_put(y, rows))
    state = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
             [v.value for v in model.optimizer.variables], [v.value for v in model.metrics_variables])
    return jax.jit(model.train_step).lower(state, data).compile().as_text()

def shapes(text):
    return [tuple(int(d) for d in dims.split(",") if d) for dims in re.findall(r"[a-z]+[0-9]*\\[([0-9,]*)\\]", text)]

result = {}
for name, mimo in (("plain", False), ("mimo", True)):
    model = build(mimo)
    text = compiled_step(model)
    conv_rows, collectives = [], []
    for line in text.splitlines():
        head = line.split("=", 1)[1] if "=" in line else ""
        if " convolution(" in line and "dim_labels=b01f_01io->b01f" in line:
            out = shapes(head.split(" convolution(")[0])[0]
            if out[1:] == (8, 8, 8):  # the forward convolution: (rows, 8, 8, 8)
                conv_rows.append(out[0])
        for c in COLLECTIVES:
            if re.search(" " + c + "(-start)?\\\\(", line):
                collectives.append([c, shapes(head.split(c)[0])])
    result[name] = {"conv_rows": conv_rows, "collectives": collectives,
                    "kernel": list(model.get_layer("conv").kernel.shape),
                    "variables": [list(v.shape) for v in model.trainable_variables]}
print(json.dumps(result))
"""


def test_compiled_mimo_step_is_data_parallel():
    """HLO of the train step on 2 devices, 16 unique examples; MIMO: M=2, b=2 (32 backbone rows)."""
    out = run_on_two_devices(HLO)
    plain, mimo = out["plain"], out["mimo"]
    assert plain["conv_rows"] == [8]  # 16 rows / 2 devices
    assert mimo["conv_rows"] == [16]  # b * B = 32 backbone rows / 2 devices: each device runs its share
    for model in (plain, mimo):
        allowed = {tuple(sorted(s)) for s in model["variables"]} | {()}  # XLA may transpose a gradient
        kinds = {kind for kind, _ in model["collectives"]}
        assert kinds == {"all-reduce"}, model["collectives"]
        carried = [tuple(sorted(s)) for _, group in model["collectives"] for s in group]
        # gradients and scalars (loss, metric totals) only: no input, index or activation rows
        assert set(carried) <= allowed, carried
        assert tuple(sorted(model["kernel"])) in carried  # the convolution's gradient is all-reduced


MLP = """
def build():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    h = keras_mimo.MIMOInput(3)(inputs)
    h = keras.layers.Dense(16, activation="relu")(h)
    out = keras_mimo.MIMOHead(4, 3, activation="softmax")(h)
    model = keras_mimo.MIMOModel(inputs, out, batch_repetitions=2, input_repetition_probability=0.25, seed=7)
    return finish(model)
x = np.random.default_rng(0).random((48, 4)).astype("float32"); y = np.arange(48) % 4
"""
# Cut-MixMo, M=3 (a box and linear mixing per batch, ratios per example): p=1 so every batch cuts
MIXMO = """
def build():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 2))
    h = keras_mimo.MixMoInput(3, keras.layers.Conv2D(4, 3, padding="same"), cut_probability=1.0, seed=3)(inputs)
    h = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(8, 3, activation="relu")(h))
    out = keras_mimo.MIMOHead(4, 3, activation="softmax")(h)
    return finish(keras_mimo.MIMOModel(inputs, out, batch_repetitions=2, seed=7))
x = np.random.default_rng(0).random((48, 6, 6, 2)).astype("float32"); y = np.arange(48) % 4
"""
EQUIVALENCE = """
import json, keras, numpy as np, keras_mimo
from keras_mimo import model as mimo_model

def finish(model):
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in model.get_weights()])
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy")
    return model
%s
runs = {}
mimo_model.data_shards = lambda: 2  # one device, the batch formed as 2 shards
reference = build()
runs["one_device"] = reference.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history["loss"]
weights = {"one_device": reference.get_weights()}
del mimo_model.data_shards  # back to the module's: 2 under DataParallel
mimo_model.data_shards = keras_mimo._distribution.data_shards
distribution = keras.distribution.DataParallel()
with distribution.scope():
    parallel = build()
    runs["two_devices"] = parallel.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history["loss"]
    weights["two_devices"] = parallel.get_weights()
diff = max(float(np.max(np.abs(a - b))) for a, b in zip(weights["one_device"], weights["two_devices"]))
print(json.dumps({"losses": runs, "max_weight_diff": diff,
                  "max_weight": max(float(np.max(np.abs(w))) for w in weights["one_device"])}))
"""


@pytest.mark.parametrize("model", ["mlp", "cut_mixmo"])
def test_two_devices_train_as_one_device_fed_the_same_shards(model):
    """Two devices vs one device forming the same per-shard batches.

    "The same": the global batch of 16 unique examples is 2 contiguous shards
    of 8; each shard's members draw rows from its own 8 examples, with the
    permutations of one draw from the model's seed state (shard s gets
    row s of the draw). The one-device run forms its batches as 2 shards
    (`data_shards` patched to 2), so both runs train on identical rows and
    must agree up to float summation order. Cut-MixMo: the mixing draws
    (ratios per example, one box per batch) and the loss weights too.
    """
    out = run_on_two_devices(EQUIVALENCE % {"mlp": MLP, "cut_mixmo": MIXMO}[model])
    one, two = out["losses"]["one_device"], out["losses"]["two_devices"]
    assert len(one) == len(two) == 3
    for a, b in zip(one, two):
        assert abs(a - b) <= 1e-5 * abs(a)
    assert out["max_weight_diff"] <= 1e-5 * out["max_weight"]
