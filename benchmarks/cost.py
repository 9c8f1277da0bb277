r"""Inference and training cost: single model vs MIMO (M = 2, 3, 4) vs deep ensemble.

Variants are timed interleaved in one process (round-robin, several
repetitions, medians), so ratios to the single model come from the same
conditions. Writes docs/results/cost_<backend>.json and a Markdown table.

    KERAS_BACKEND=tensorflow python -m benchmarks.cost
    KERAS_BACKEND=jax python -m benchmarks.cost
    KERAS_BACKEND=torch python -m benchmarks.cost
    python -m benchmarks.cost --quick        # a small smoke run
"""

import argparse
import json
import os
import platform
import statistics
import time

import keras
import numpy as np

import keras_mimo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKBONES = {"WRN-22-1 (ResNet-20 size)": (22, 1), "WRN-16-4": (16, 4)}


def flops_per_image(model) -> int:
    """Analytic multiply-add x 2 count of convolutions and dense layers per input image."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            k_h, k_w, c_in, _ = layer.kernel.shape
            total += 2 * h * w * k_h * k_w * c_in * c_out
        elif isinstance(layer, (keras.layers.Dense, keras_mimo.MIMOHead)):
            kernel = layer.kernel if isinstance(layer, keras.layers.Dense) else layer.dense.kernel
            total += 2 * int(np.prod(kernel.shape))
    return int(total)


def build(depth, width, ensemble_size, batch_repetitions=1):
    return keras_mimo.applications.wide_resnet(
        depth=depth,
        width_multiplier=width,
        ensemble_size=ensemble_size,
        batch_repetitions=batch_repetitions,
        seed=0,
    )


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def interleaved(fns: dict, rounds: int):
    """{name: [seconds per round]}, calling every fn once per round, round-robin."""
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            times[name] += timed(fn, 1)
    return times


def inference(depth, width, args):
    x = np.random.default_rng(0).random((args.images, 32, 32, 3)).astype("float32")
    models = {"single": build(depth, width, None)}
    for m in (2, 3, 4):
        models[f"mimo{m}"] = build(depth, width, m)
    ensemble = [build(depth, width, None) for _ in range(3)]

    def predict(model):
        return lambda: model.predict(x, batch_size=args.batch_size, verbose=0)

    fns = {name: predict(m) for name, m in models.items()}
    fns["deep_ensemble3"] = lambda: [m.predict(x, batch_size=args.batch_size, verbose=0) for m in ensemble]
    for fn in fns.values():  # compile / warm up
        fn()
    times = interleaved(fns, args.rounds)
    base = statistics.median(times["single"])
    rows = {}
    for name, t in times.items():
        med = statistics.median(t)
        size = 3 if name == "deep_ensemble3" else (int(name[4:]) if name.startswith("mimo") else 1)
        params = sum(m.count_params() for m in ensemble) if name == "deep_ensemble3" else models[name].count_params()
        flops = 3 * flops_per_image(ensemble[0]) if name == "deep_ensemble3" else flops_per_image(models[name])
        rows[name] = {
            "ensemble_size": size,
            "images_per_second": args.images / med,
            "median_seconds": med,
            "time_ratio_to_single": med / base,
            "parameters": int(params),
            "flops_per_image": flops,
            "all_seconds": t,
        }
    return rows


class SameGraphWithoutBatching(keras.Model):
    """The MIMO graph as a plain Keras model fed stacked rows (M * unique per step).

    It skips MIMOModel's batching (shuffles, repetitions, per-member losses):
    its forward pass runs the MIMOModel inside `stacked_rows()` (the public
    scope for custom loops), and `fit` is plain Keras's.
    """

    def __init__(self, mimo, **kwargs):
        super().__init__(**kwargs)
        self.mimo = mimo

    def call(self, inputs, training=None):
        with self.mimo.stacked_rows():
            return self.mimo(inputs, training=training)


def training_overhead(depth, width, args):
    """MIMOModel.fit vs keras.Model.fit on the same graph and the same rows per step."""
    m, unique = 3, args.train_batch
    rng = np.random.default_rng(1)
    x = rng.random((unique * args.steps, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, unique * args.steps)
    mimo = build(depth, width, m)
    plain = SameGraphWithoutBatching(mimo)  # same layers, no MIMO batching
    # plain gets M * unique rows per step (their order does not change the cost)
    x_stacked = np.concatenate([x] * m)
    y_stacked = np.concatenate([y] * m)
    order = np.concatenate(
        [np.arange(s * unique, (s + 1) * unique) + k * len(x) for s in range(args.steps) for k in range(m)]
    )
    x_stacked, y_stacked = x_stacked[order], y_stacked[order]
    for model in (mimo, plain):
        model.compile(keras.optimizers.SGD(0.01, momentum=0.9), "sparse_categorical_crossentropy")
    fns = {
        "mimo_fit": lambda: mimo.fit(x, y, batch_size=unique, epochs=1, shuffle=False, verbose=0),
        "plain_fit_same_rows": lambda: plain.fit(
            x_stacked, y_stacked, batch_size=unique * m, epochs=1, shuffle=False, verbose=0
        ),
    }
    for fn in fns.values():
        fn()
    times = interleaved(fns, args.rounds)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "ensemble_size": m,
        "unique_per_step": unique,
        "rows_per_step": unique * m,
        "steps": args.steps,
        "median_seconds": med,
        "overhead_fraction": med["mimo_fit"] / med["plain_fit_same_rows"] - 1.0,
        "all_seconds": times,
    }


def repetition_cost(depth, width, args):
    """Seconds per epoch of unique data for batch_repetitions 1, 2, 4 (MIMO M=3)."""
    rng = np.random.default_rng(2)
    n = args.train_batch * args.steps
    x = rng.random((n, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, n)
    models = {}
    for b in (1, 2, 4):
        models[b] = build(depth, width, 3, batch_repetitions=b)
        models[b].compile(keras.optimizers.SGD(0.01, momentum=0.9), "sparse_categorical_crossentropy")
    fns = {
        f"b{b}": (lambda mm: lambda: mm.fit(x, y, batch_size=args.train_batch, epochs=1, verbose=0))(mm)
        for b, mm in models.items()
    }
    for fn in fns.values():
        fn()
    times = interleaved(fns, args.rounds)
    base = statistics.median(times["b1"])
    return {
        k: {
            "median_seconds": statistics.median(v),
            "ratio_to_b1": statistics.median(v) / base,
            "unique_images_per_second": n / statistics.median(v),
        }
        for k, v in times.items()
    }


def markdown(result):
    """Tables with median- and minimum-based ratios (this VM alternates between speed states)."""
    lines = [f"### {result['backend']} ({result['machine']})", ""]
    for backbone, r in result["backbones"].items():
        inf = r["inference"]
        single_min = min(inf["single"]["all_seconds"])
        lines += [
            f"**{backbone}**: inference, {result['args']['images']} images, batch {result['args']['batch_size']}, "
            f"{result['args']['rounds']} interleaved rounds",
            "",
            "| variant | M | images/s (median) | time / single (median) | time / single (min) | parameters | MFLOPs / image |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, row in inf.items():
            lines.append(
                f"| {name} | {row['ensemble_size']} | {row['images_per_second']:.0f} | "
                f"{row['time_ratio_to_single']:.3f} | {min(row['all_seconds']) / single_min:.3f} | "
                f"{row['parameters']:,} | {row['flops_per_image'] / 1e6:.1f} |"
            )
        o = r["training_overhead"]
        mins = {k: min(v) for k, v in o["all_seconds"].items()}
        lines += [
            "",
            f"Batch preparation overhead (MIMOModel.fit vs keras.Model.fit on the same graph, "
            f"{o['rows_per_step']} rows/step, {o['steps']} steps): median **{100 * o['overhead_fraction']:+.1f} %**, "
            f"min **{100 * (mins['mimo_fit'] / mins['plain_fit_same_rows'] - 1):+.1f} %** "
            f"(seconds: {json.dumps({k: [round(t, 2) for t in v] for k, v in o['all_seconds'].items()})})",
            "",
            "| batch_repetitions | s / epoch of unique data (median) | ratio to b=1 |",
            "|---|---|---|",
        ]
        for k, row in r["repetitions"].items():
            lines.append(f"| {k[1:]} | {row['median_seconds']:.2f} | {row['ratio_to_b1']:.2f} |")
        lines.append("")
    return "\n".join(lines)


def parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--batch_size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--train_batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--backbones", nargs="*", default=list(BACKBONES))
    parser.add_argument("--quick", action="store_true", help="tiny sizes for a smoke run")
    parser.add_argument("--out_dir", default=os.path.join(ROOT, "docs", "results"))
    parser.add_argument("--markdown_only", action="store_true", help="re-render the .md from the JSON")
    return parser


def main():
    args = parser().parse_args()
    if args.markdown_only:
        path = os.path.join(args.out_dir, f"cost_{keras.backend.backend()}.json")
        with open(path) as f:
            result = json.load(f)
        with open(path[:-5] + ".md", "w") as f:
            f.write(markdown(result) + "\n")
        return
    if args.quick:
        args.images, args.batch_size, args.rounds, args.train_batch, args.steps = 64, 32, 2, 16, 2
        args.backbones = args.backbones[:1]
    keras.utils.set_random_seed(0)
    result = {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "args": vars(args),
        "backbones": {},
    }
    for name in args.backbones:
        depth, width = BACKBONES[name]
        result["backbones"][name] = {
            "inference": inference(depth, width, args),
            "training_overhead": training_overhead(depth, width, args),
            "repetitions": repetition_cost(depth, width, args),
        }
        print(markdown({**result, "backbones": {name: result["backbones"][name]}}), flush=True)
    os.makedirs(args.out_dir, exist_ok=True)
    suffix = "_quick" if args.quick else ""
    with open(os.path.join(args.out_dir, f"cost_{result['backend']}{suffix}.json"), "w") as f:
        json.dump(result, f, indent=1)
    with open(os.path.join(args.out_dir, f"cost_{result['backend']}{suffix}.md"), "w") as f:
        f.write(markdown(result) + "\n")


if __name__ == "__main__":
    main()
