r"""keras-mimo beside torch-uncertainty: the same MIMO network, step time, inference time, quality.

Runs in its own virtualenv (benchmarks/peers-requirements.txt), not in
.ci/run. torch-uncertainty's MIMO Wide ResNet (`mimo_wideresnet28x10`, or its
`_MIMOWideResNet` class at other sizes) and its `MIMOBatchFormat` are timed
against `keras_mimo.applications.wide_resnet` on the same torch (Keras's
torch backend) and on JAX, in one process per Keras backend, with the
frameworks' steps interleaved and the median per framework reported.

    # speed: WRN-28-10, M=3, b=4, 8 unique images per step (CPU here; the same command on a GPU)
    KERAS_BACKEND=torch python -m benchmarks.peers speed --depth 28 --width 10
    KERAS_BACKEND=jax python -m benchmarks.peers speed --depth 28 --width 10
    # quality: WRN-10-2, M=2, b=2 on the first 2,000 CIFAR-10 training images, both sides
    KERAS_BACKEND=torch python -m benchmarks.peers quality --npz_dir path/to/cifar10_npz --epochs 10
    # tables from the JSON written by the runs above
    python -m benchmarks.peers report

Results: docs/results/peers_*.json and docs/results/peers.md.
"""

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(ROOT, "docs", "results")

# How the two libraries form MIMO batches and weigh the loss (read from their
# code: torch_uncertainty/transforms/batch.py MIMOBatchFormat and
# routines/classification.py; keras_mimo/batching.py and MIMOModel.compute_loss).
BATCHING = [
    ("unique examples per step", "B (the loader's batch)", "B (the dataset's batch)"),
    ("rows per member", "b * B: indices 0..B-1 repeated b times", "b * B: every example repeated b times"),
    (
        "shared (rho) rows",
        "the last rho * b * B rows of one main permutation keep the same order for every member",
        "the last rho * b * B rows of one shuffle are shared by every member",
    ),
    (
        "member shuffles",
        "each member permutes the first (1 - rho) * b * B rows of the main permutation",
        "each member reshuffles the first (1 - rho) * b * B rows independently",
    ),
    (
        "row layout",
        "member-major (M * b * B, C, H, W), channels stacked inside the model",
        "example-major (b * B * M, H, W, C): row n * M + m is member m's; channels stacked by MIMOInput",
    ),
    (
        "loss",
        "cross-entropy averaged over all M * b * B rows (= the members' mean)",
        "the compiled loss per member, summed over members (the reference's weighting: M x theirs)",
    ),
    (
        "inference",
        "the input repeated M times, logits per member, mean of softmax outside the model",
        "the input tiled inside the model; the head combines the members (one output)",
    ),
]


def _torch_uncertainty_model(depth, width, num_classes, members):
    from torch_uncertainty.models.classification.wideresnet import mimo as tu_mimo
    from torch_uncertainty.models.classification.wideresnet.std import _WideResNet

    cifar = "cifar"
    if members == 1:
        return _WideResNet(
            depth,
            widen_factor=width,
            in_channels=3,
            num_classes=num_classes,
            conv_bias=False,
            dropout_rate=0.0,
            style=cifar,
        )
    return tu_mimo._MIMOWideResNet(
        depth,
        widen_factor=width,
        in_channels=3,
        num_classes=num_classes,
        num_estimators=members,
        conv_bias=False,
        dropout_rate=0.0,
        style=cifar,
    )


def jit_compile_argument(flag: str):
    """`--jit_compile auto|true|false` -> Model.compile's `jit_compile`."""
    return {"auto": "auto", "true": True, "false": False}[flag]


def _keras_model(depth, width, num_classes, members, repetitions, lr=0.1, jit_compile="auto"):
    import keras

    import keras_mimo

    model = keras_mimo.applications.wide_resnet(
        depth=depth,
        width_multiplier=width,
        num_classes=num_classes,
        ensemble_size=members,
        batch_repetitions=repetitions if members > 1 else 1,
        seed=0,
        head_activation=None,
    )
    model.compile(
        keras.optimizers.SGD(lr, momentum=0.9, nesterov=True),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile,
    )
    return model


def _count(module):
    return int(sum(p.numel() for p in module.parameters()))


def _torch_device():
    """CUDA when torch sees a GPU (Keras's torch backend then uses it too), else CPU."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _device_name(device) -> str:
    import torch

    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def _synchronize(device):
    """Wait for queued GPU work so a timer measures it (torch launches kernels asynchronously)."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def speed(args):
    """Interleaved train-step and inference timings, keras-mimo vs torch-uncertainty."""
    import keras
    import torch
    from torch_uncertainty.transforms import MIMOBatchFormat

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    b, m, unique = args.batch_repetitions, args.members, args.unique_batch
    x = rng.normal(size=(unique, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, unique).astype("int64")
    x_infer = rng.normal(size=(args.inference_batch, 32, 32, 3)).astype("float32")

    device = _torch_device()
    tu = _torch_uncertainty_model(args.depth, args.width, 10, m).to(device)
    tu_single = _torch_uncertainty_model(args.depth, args.width, 10, 1).to(device)
    fmt = MIMOBatchFormat(num_estimators=m, rho=0.0, batch_repeat=b)
    optimizer = torch.optim.SGD(tu.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    loss_fn = torch.nn.CrossEntropyLoss()
    tx = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous().to(device)
    ty = torch.from_numpy(y).to(device)
    tx_infer = torch.from_numpy(x_infer).permute(0, 3, 1, 2).contiguous().to(device)

    def tu_step():
        tu.train()
        inputs, targets = fmt((tx, ty))
        optimizer.zero_grad()
        loss = loss_fn(tu(inputs), targets)
        loss.backward()
        optimizer.step()
        _synchronize(device)

    def tu_infer(model):
        model.eval()
        with torch.no_grad():
            logits = model(tx_infer)
            if model is tu:  # (M * N, K) member logits -> the mean member probability
                logits.view(m, -1, logits.shape[-1]).softmax(-1).mean(0)
        _synchronize(device)

    jit = jit_compile_argument(args.jit_compile)
    ours = _keras_model(args.depth, args.width, 10, m, b, jit_compile=jit)
    ours_single = _keras_model(args.depth, args.width, 10, 1, 1, jit_compile=jit)

    def ours_step():
        ours.train_on_batch(x, y)

    def ours_infer(model):
        model.predict_on_batch(x_infer)

    timings = {
        k: [] for k in ("tu_train", "ours_train", "tu_infer", "tu_single_infer", "ours_infer", "ours_single_infer")
    }
    calls = {
        "tu_train": tu_step,
        "ours_train": ours_step,
        "tu_infer": lambda: tu_infer(tu),
        "tu_single_infer": lambda: tu_infer(tu_single),
        "ours_infer": lambda: ours_infer(ours),
        "ours_single_infer": lambda: ours_infer(ours_single),
    }
    for fn in calls.values():  # warm-up: compilation, allocation
        fn()
    for _ in range(args.repeats):
        for name, fn in calls.items():
            start = time.perf_counter()
            fn()
            timings[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in timings.items()}
    result = {
        "backend": keras.backend.backend(),
        "torch": torch.__version__,
        "keras": keras.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "device": _device_name(device),
        "depth": args.depth,
        "width": args.width,
        "members": m,
        "batch_repetitions": b,
        "unique_batch": unique,
        "rows_per_step": unique * b,
        "inference_batch": args.inference_batch,
        "repeats": args.repeats,
        "median_seconds": med,
        "all_seconds": timings,
        "parameters": {
            "torch_uncertainty_mimo": _count(tu),
            "torch_uncertainty_single": _count(tu_single),
            "keras_mimo_mimo": int(ours.count_params()),
            "keras_mimo_single": int(ours_single.count_params()),
        },
        "train_step_ratio_ours_over_theirs": med["ours_train"] / med["tu_train"],
        "inference_ratio_mimo_over_single": {
            "keras_mimo": med["ours_infer"] / med["ours_single_infer"],
            "torch_uncertainty": med["tu_infer"] / med["tu_single_infer"],
        },
    }
    result["jit_compile"] = bool(ours.jit_compile)  # what Keras resolved "auto" to
    where = "gpu" if device.type == "cuda" else "cpu"
    jit = "_jit" if result["jit_compile"] and result["backend"] == "torch" else ""  # JAX always compiles
    _write(f"peers_speed_{result['backend']}{jit}_wrn{args.depth}-{args.width}_{where}.json", result, args.results_dir)
    print(
        json.dumps(
            {
                k: result[k]
                for k in (
                    "median_seconds",
                    "parameters",
                    "train_step_ratio_ours_over_theirs",
                    "inference_ratio_mimo_over_single",
                )
            },
            indent=1,
        )
    )
    return result


def quality(args):
    """Both libraries train the same small MIMO WRN on the same images, schedule and augmentation."""
    import keras
    import torch
    from torch_uncertainty.transforms import MIMOBatchFormat

    import keras_mimo
    from keras_mimo.datasets import cifar
    from keras_mimo.datasets import cifar_pipeline

    x_train, y_train, x_test, y_test = cifar.load_npz(args.npz_dir)
    x_train, y_train = x_train[: args.train_examples], y_train[: args.train_examples]
    x_test, y_test = x_test[: args.test_examples], y_test[: args.test_examples]
    m, b, unique = args.members, args.batch_repetitions, 128
    steps = len(x_train) // unique
    rng = np.random.default_rng(0)
    batches = []  # the same augmented batches for both sides
    for _ in range(args.epochs):
        order = rng.permutation(len(x_train))
        for s in range(steps):
            idx = order[s * unique : (s + 1) * unique]
            batches.append((cifar.normalize(cifar_pipeline.augment_numpy(x_train[idx], rng)), y_train[idx]))
    test_inputs = cifar.normalize(x_test)

    torch.manual_seed(0)
    tu = _torch_uncertainty_model(args.depth, args.width, 10, m)
    fmt = MIMOBatchFormat(num_estimators=m, rho=0.0, batch_repeat=b)
    # Keras's l2(3e-4) on every weight adds 2 * 3e-4 * w to the gradient: the same as weight decay 6e-4.
    optimizer = torch.optim.SGD(tu.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=6e-4)
    ours = keras_mimo.applications.wide_resnet(
        depth=args.depth,
        width_multiplier=args.width,
        num_classes=10,
        ensemble_size=m,
        batch_repetitions=b,
        seed=0,
        l2=3e-4,
        head_activation=None,
    )
    schedule = keras_mimo.applications.WarmUpStepDecay(
        0.1, warmup_steps=steps, decay_steps=[int(args.epochs * f * steps) for f in (0.4, 0.8, 0.9)], decay_ratio=0.2
    )
    ours.compile(
        keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    seconds = {"keras_mimo": 0.0, "torch_uncertainty": 0.0}
    loss_fn = torch.nn.CrossEntropyLoss()
    for step, (xb, yb) in enumerate(batches):
        start = time.perf_counter()
        ours.train_on_batch(xb, yb)
        seconds["keras_mimo"] += time.perf_counter() - start
        start = time.perf_counter()
        for group in optimizer.param_groups:  # the same schedule, read from the Keras object
            group["lr"] = float(keras.ops.convert_to_numpy(schedule(step)))
        tu.train()
        inputs, targets = fmt((torch.from_numpy(xb).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(yb).long()))
        optimizer.zero_grad()
        loss_fn(tu(inputs), targets).backward()
        optimizer.step()
        seconds["torch_uncertainty"] += time.perf_counter() - start
    tu.eval()
    with torch.no_grad():
        logits = torch.cat(
            [
                tu(torch.from_numpy(test_inputs[i : i + 500]).permute(0, 3, 1, 2).contiguous())
                .view(m, -1, 10)
                .permute(1, 0, 2)
                for i in range(0, len(test_inputs), 500)
            ]
        )
    theirs_log_probs = torch.log_softmax(logits, -1).numpy().astype("float64")
    ours_log_probs = keras.ops.convert_to_numpy(
        keras.ops.log_softmax(ours.predict_members(test_inputs, batch_size=500, verbose=0), axis=-1)
    ).astype("float64")
    results = {}
    for name, log_p in (("keras_mimo", ours_log_probs), ("torch_uncertainty", theirs_log_probs)):
        scores = keras_mimo.evaluation.scores_from_probabilities(np.exp(log_p), y_test, log_probs=log_p)
        results[name] = {
            k: scores[k] for k in ("accuracy", "nll", "ece", "disagreement", "average_kl", "mean_member_accuracy")
        }
        results[name]["train_seconds"] = seconds[name]
    result = {
        "backend": keras.backend.backend(),
        "torch": torch.__version__,
        "keras": keras.__version__,
        "depth": args.depth,
        "width": args.width,
        "members": m,
        "batch_repetitions": b,
        "train_examples": len(x_train),
        "test_examples": len(x_test),
        "epochs": args.epochs,
        "results": results,
    }
    _write(f"peers_quality_{result['backend']}.json", result, args.results_dir)
    print(json.dumps(results, indent=1))
    return result


def _write(name, result, results_dir=RESULTS):
    os.makedirs(results_dir, exist_ok=True)
    with open(os.path.join(results_dir, name), "w") as f:
        json.dump(result, f, indent=1)


def _jit_label(result: dict) -> str:
    """Runs before the flag: JAX always compiled (XLA), torch ran eagerly."""
    return "true" if result.get("jit_compile", result["backend"] == "jax") else "false"


def tables(speeds: list, qualities: list) -> str:
    """The Markdown report: speed ratios, quality, batching differences."""
    lines = [
        "### Step and inference time (median seconds; interleaved in one process)",
        "",
        "| keras backend | jit_compile | device | network | rows/step | keras-mimo step | torch-uncertainty step | ratio (ours / theirs) "
        "| MIMO / single inference: keras-mimo | torch-uncertainty | target step <= 1.0x | target inference |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in speeds:
        med, inf = r["median_seconds"], r["inference_ratio_mimo_over_single"]
        ratio = r["train_step_ratio_ours_over_theirs"]
        lines.append(
            f"| {r['backend']} | {_jit_label(r)} | {r.get('device', 'cpu')} | WRN-{r['depth']}-{r['width']} M={r['members']} "
            f"b={r['batch_repetitions']} | "
            f"{r['rows_per_step']} | {med['ours_train']:.3f} | {med['tu_train']:.3f} | {ratio:.2f} | "
            f"{inf['keras_mimo']:.2f} | {inf['torch_uncertainty']:.2f} | {'met' if ratio <= 1.0 else 'not met'} | "
            f"{'met' if inf['keras_mimo'] <= inf['torch_uncertainty'] else 'not met'} |"
        )
    lines += [
        "",
        "### Parameters",
        "",
        "| network | keras-mimo MIMO | torch-uncertainty MIMO | keras-mimo single | torch-uncertainty single |",
        "|---|---|---|---|---|",
    ]
    networks = {}
    for r in speeds:  # one row per network (every run of it counts the same parameters)
        networks.setdefault((r["depth"], r["width"], r["members"]), r)
    for r in networks.values():
        p = r["parameters"]
        lines.append(
            f"| WRN-{r['depth']}-{r['width']} M={r['members']} | {p['keras_mimo_mimo']:,} | "
            f"{p['torch_uncertainty_mimo']:,} | {p['keras_mimo_single']:,} | {p['torch_uncertainty_single']:,} |"
        )
    for q in qualities:
        lines += [
            "",
            f"### Quality: WRN-{q['depth']}-{q['width']} M={q['members']} b={q['batch_repetitions']}, "
            f"{q['train_examples']:,} CIFAR-10 images, {q['epochs']} epochs, {q['test_examples']:,} test images "
            f"(keras backend {q['backend']})",
            "",
            "| library | accuracy | NLL | ECE | mean member accuracy | disagreement | train seconds |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, r in q["results"].items():
            lines.append(
                f"| {name} | {r['accuracy']:.4f} | {r['nll']:.4f} | {r['ece']:.4f} | "
                f"{r['mean_member_accuracy']:.4f} | {r['disagreement']:.4f} | {r['train_seconds']:.0f} |"
            )
    lines += [
        "",
        "### How the two form batches and weigh the loss",
        "",
        "| | torch-uncertainty | keras-mimo |",
        "|---|---|---|",
    ] + [f"| {a} | {b} | {c} |" for a, b, c in BATCHING]
    return "\n".join(lines) + "\n"


def report(args):
    results_dir = args.results_dir
    files = sorted(os.listdir(results_dir)) if os.path.isdir(results_dir) else []
    load = lambda n: json.load(open(os.path.join(results_dir, n)))
    speeds = [load(n) for n in files if n.startswith("peers_speed_")]
    qualities = [load(n) for n in files if n.startswith("peers_quality_")]
    text = tables(speeds, qualities)
    with open(os.path.join(results_dir, "peers.md"), "w") as f:
        f.write(text)
    print(text)


def parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("part", choices=("speed", "quality", "report"))
    p.add_argument("--depth", type=int, default=28)
    p.add_argument("--width", type=int, default=10)
    p.add_argument("--members", type=int, default=3)
    p.add_argument("--batch_repetitions", type=int, default=4)
    p.add_argument("--unique_batch", type=int, default=8)
    p.add_argument("--inference_batch", type=int, default=32)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--npz_dir", default=None)
    p.add_argument("--train_examples", type=int, default=2000)
    p.add_argument("--test_examples", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument(
        "--jit_compile",
        choices=("auto", "true", "false"),
        default="auto",
        help="keras-mimo's Model.compile jit_compile (auto: XLA on JAX, eager on torch; true on torch: torch.compile)",
    )
    p.add_argument("--results_dir", default=RESULTS, help="where the JSON and peers.md go (default: docs/results)")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    if args.part == "quality" and (args.depth, args.width, args.members, args.batch_repetitions) == (28, 10, 3, 4):
        args.depth, args.width, args.members, args.batch_repetitions = 10, 2, 2, 2  # the small default
    {"speed": speed, "quality": quality, "report": report}[args.part](args)


if __name__ == "__main__":
    main()
