r"""Training step time on 1 vs D devices under JAX DataParallel: MIMO beside a plain model.

Each device count runs in its own process (on CPU, XLA's forced host devices;
on a multi-GPU machine, the first D GPUs); within a process the plain and
the MIMO step are interleaved and the medians reported. The global batch of
unique examples is the same for every device count, so a data-parallel step
should take about 1/D of the one-device time where the devices are real.

    # this machine: forced host CPU devices (they share the CPU's cores)
    KERAS_BACKEND=jax python -m benchmarks.data_parallel --devices 1 2
    # a multi-GPU machine: the same command, GPUs instead of host devices
    KERAS_BACKEND=jax python -m benchmarks.data_parallel --devices 1 2 4 8 --platform gpu --batch_size 512

Results: docs/results/data_parallel_<platform>.{json,md}.
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

WORKER = r"""
import json, statistics, sys, time
import jax, keras, numpy as np
from benchmarks import data_parallel as bench
import keras_mimo

args = json.loads(sys.argv[1])
devices = jax.devices()[: args["devices"]]
if len(devices) > 1:  # one device: no distribution, Keras's default placement
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
x = np.random.default_rng(0).random((args["batch_size"], 32, 32, 3)).astype("float32")
y = np.arange(args["batch_size"]) % 10
models = {"plain": bench.build(args, mimo=False), "mimo": bench.build(args, mimo=True)}
for model in models.values():
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9), "sparse_categorical_crossentropy")
    model.train_on_batch(x, y)  # compile
times = {name: [] for name in models}
for _ in range(args["repeats"]):
    for name, model in models.items():
        start = time.perf_counter()
        for _ in range(args["steps"]):
            loss = model.train_on_batch(x, y)
        float(loss)
        times[name].append((time.perf_counter() - start) / args["steps"])
print(json.dumps({"devices": len(devices), "platform": devices[0].platform, "kind": devices[0].device_kind,
                  "median_step_seconds": {k: statistics.median(v) for k, v in times.items()}, "all": times}))
"""


def build(args, mimo):
    """The Wide ResNet of `args`: MIMO (M, b from args) or the plain single model."""
    import keras_mimo

    return keras_mimo.applications.wide_resnet(
        depth=args["depth"],
        width_multiplier=args["width"],
        ensemble_size=args["members"] if mimo else 1,
        batch_repetitions=args["batch_repetitions"] if mimo else 1,
        seed=0,
    )


def run(args) -> list:
    rows = []
    for d in args.devices:
        env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        if args.platform == "cpu":
            env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={max(args.devices)}"
            env["JAX_PLATFORMS"] = "cpu"
        payload = json.dumps(
            {
                k: getattr(args, k)
                for k in ("batch_size", "depth", "width", "members", "batch_repetitions", "steps", "repeats")
            }
            | {"devices": d}
        )
        result = subprocess.run(
            [sys.executable, "-c", WORKER, payload], capture_output=True, text=True, env=env, cwd=ROOT
        )
        if result.returncode:
            raise SystemExit(result.stderr[-3000:])
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]["median_step_seconds"]), f"({d} devices)", flush=True)
    return rows


def table(rows, args) -> str:
    base = rows[0]["median_step_seconds"]
    lines = [
        f"WRN-{args.depth}-{args.width}, {args.batch_size} unique examples per step (global), MIMO M={args.members} "
        f"b={args.batch_repetitions}; {rows[0]['platform']} ({rows[0]['kind']}); median of {args.repeats} x "
        f"{args.steps} steps",
        "",
        "| devices | plain step (s) | plain speed-up | MIMO step (s) | MIMO speed-up | MIMO / plain |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        t = r["median_step_seconds"]
        lines.append(
            f"| {r['devices']} | {t['plain']:.4f} | {base['plain'] / t['plain']:.2f}x | {t['mimo']:.4f} | "
            f"{base['mimo'] / t['mimo']:.2f}x | {t['mimo'] / t['plain']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devices", type=int, nargs="+", default=[1, 2])
    p.add_argument("--platform", choices=("cpu", "gpu", "tpu"), default="cpu")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--depth", type=int, default=10)
    p.add_argument("--width", type=int, default=1)
    p.add_argument("--members", type=int, default=3)
    p.add_argument("--batch_repetitions", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out_dir", default=os.path.join(ROOT, "docs", "results"))
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    rows = run(args)
    text = table(rows, args)
    os.makedirs(args.out_dir, exist_ok=True)
    name = f"data_parallel_{args.platform}"
    with open(os.path.join(args.out_dir, name + ".json"), "w") as f:
        json.dump({"args": vars(args), "rows": rows}, f, indent=1)
    with open(os.path.join(args.out_dir, name + ".md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
