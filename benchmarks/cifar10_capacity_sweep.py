r"""Capacity sweep on real CIFAR-10: where does MIMO start to beat a single model?

MIMO's subnetworks share one network, so they need spare capacity. This
sweep varies the capacity per training example along two axes, the Wide
ResNet width multiplier and the number of training examples, at a fixed
budget of unique training rows (epochs = unique_rows / train_examples, so
every point costs the same number of steps for a given width). Each point
trains the variants of benchmarks/cifar10_quality.py (by default single
models of seeds 0 and 1 and MIMO M=2) with the same recipe, scores them on
the full clean test set and on shared corrupted test sets, and forms the
deep ensemble of the two singles. Points are `width:train_examples`; each
has its own resumable run directory. Writes docs/results/capacity_sweep.json,
capacity_sweep.md and the plots capacity_sweep.png (metrics vs width and vs
training examples), capacity_sweep_curves.png (learning curves) and
capacity_sweep_nll_vs_m.png (where MIMO M=3 was run):

    python -m benchmarks.cifar10_capacity_sweep --npz_dir path/to/cifar10_npz \
        --points 2:2000 2:5000 2:10000 1:2000
    # another variant at one point (joins the report of the same run_dir)
    python -m benchmarks.cifar10_capacity_sweep --points 2:2000 --variants mimo3
    # tables and plot only, from finished runs
    python -m benchmarks.cifar10_capacity_sweep --points 2:2000 2:5000 2:10000 1:2000 --report_only
"""

import argparse
import json
import os
import platform

from benchmarks import cifar10_quality

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

METRICS = (
    ("accuracy", "Acc"),
    ("nll", "NLL"),
    ("ece", "ECE"),
    ("mean_member_accuracy", "member acc"),
    ("disagreement", "disagr."),
)
PLOTTED = {
    "single_s0": "single",
    "mimo2": "MIMO M=2 (1 pass)",
    "mimo3": "MIMO M=3 (1 pass)",
    "deep_ensemble2": "deep ensemble of 2 (2 passes)",
}


def parse_point(text: str) -> tuple:
    """'2:5000' -> (width 2, 5000 training examples)."""
    try:
        width, examples = (int(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a point is WIDTH:TRAIN_EXAMPLES, e.g. 2:5000; got {text!r}")
    if width < 1 or examples < 1:
        raise argparse.ArgumentTypeError(f"width and train_examples must be positive; got {text!r}")
    return width, examples


def point_epochs(args, examples: int) -> int:
    return max(1, round(args.unique_rows / examples))


def quality_args(args, point, variants):
    """The cifar10_quality arguments of one point of the sweep."""
    width, examples = point
    data = ["--npz_dir", args.npz_dir] if args.npz_dir else (["--data_dir", args.data_dir] if args.data_dir else [])
    argv = data + [
        "--profile",
        "cpu",
        "--epochs",
        str(point_epochs(args, examples)),
        "--train_examples",
        str(examples),
        "--width_multiplier",
        str(width),
        "--depth",
        str(args.depth),
        "--batch_repetitions",
        str(args.batch_repetitions),
        "--input_repetition_probability",
        str(args.input_repetition_probability),
        "--corruption_examples",
        str(args.corruption_examples),
        "--run_dir",
        os.path.join(args.run_dir, f"w{width}_n{examples}"),
        "--corruption_cache",
        os.path.join(args.run_dir, f"corrupted_{args.corruption_examples}.npz"),
        "--variants",
        *variants,
    ]
    return cifar10_quality.parser().parse_args(argv)


def point_results(qargs):
    """{variant name: result} of one point: every finished training and the deep ensemble (cached)."""
    variants = cifar10_quality.finished_variants(qargs.run_dir)
    cache = os.path.join(qargs.run_dir, "deep_ensemble2.json")
    if os.path.exists(cache):
        with open(cache) as f:
            variants["deep_ensemble2"] = json.load(f)
    else:
        ensembles = cifar10_quality.deep_ensembles(qargs)
        if "deep_ensemble2" in ensembles:
            variants["deep_ensemble2"] = ensembles["deep_ensemble2"]
            with open(cache, "w") as f:
                json.dump(ensembles["deep_ensemble2"], f, indent=1, default=str)
    return variants


def summarize(point, epochs, variants):
    """One JSON row per variant of one point (clean and corrupted metrics, cost, NLL gap closed)."""
    width, examples = point
    rows = []
    for name, r in variants.items():
        row = {
            "width": width,
            "train_examples": examples,
            "epochs": epochs,
            "variant": name,
            "ensemble_size": r["ensemble_size"],
            "parameters": r.get("parameters"),
            "rows_processed": r.get("rows_processed"),
            "train_seconds": r.get("train_seconds"),
        }
        row.update({k: r["test"].get(k) for k, _ in METRICS})
        row.update({k: r["corrupted"][k] for k in ("cA", "cNLL", "cECE")})
        rows.append(row)
    single, ensemble = variants.get("single_s0"), variants.get("deep_ensemble2")
    gap = single["test"]["nll"] - ensemble["test"]["nll"] if single and ensemble else None
    for row in rows:
        if row["variant"].startswith("mimo") and gap:
            row["nll_gap_closed"] = (single["test"]["nll"] - row["nll"]) / gap
    return rows


def markdown(rows):
    head = (
        "| width | train examples | epochs | variant | params | forward passes | "
        + " | ".join(h for _, h in METRICS)
        + " | cA | cNLL | cECE | NLL gap closed | train s |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        passes = r["ensemble_size"] if r["variant"].startswith("deep") else 1
        cells = ["-" if r.get(k) is None else f"{r[k]:.4f}" for k, _ in METRICS]
        cells += [f"{r[k]:.4f}" for k in ("cA", "cNLL", "cECE")]
        gap = r.get("nll_gap_closed")
        cells.append("-" if gap is None else f"{gap:+.2f}")
        lines.append(
            f"| {r['width']} | {r['train_examples']:,} | {r['epochs']} | {r['variant']} | "
            f"{r['parameters']:,} | {passes} | " + " | ".join(cells) + f" | {r['train_seconds']:.0f} |"
        )
    return "\n".join(lines)


def plot(rows, path):
    """Accuracy, NLL and ECE against training examples (per width) and against width (per size).

    Top row: one line style per width swept over two or more sizes; bottom
    row: one line style per training-set size swept over two or more widths.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = sorted({(r["width"], r["train_examples"]) for r in rows})
    widths = sorted({w for w, _ in points if sum(p[0] == w for p in points) > 1})
    sizes = sorted({n for _, n in points if sum(p[1] == n for p in points) > 1})
    axes_spec = [
        ("train_examples", "training examples", "width", widths, "width {}"),
        ("width", "width multiplier k (WRN-d-k)", "train_examples", sizes, "{:,} examples"),
    ]
    styles = ("-", "--", ":", "-.")
    colors = {v: f"C{i}" for i, v in enumerate(PLOTTED)}
    fig, axes = plt.subplots(2, 3, figsize=(15, 7.5), squeeze=False)
    for ax_row, (key, xlabel, fixed, values, name) in zip(axes, axes_spec):
        for style, value in zip(styles, values):
            for variant, label in PLOTTED.items():
                pts = sorted((r[key], r) for r in rows if r["variant"] == variant and r[fixed] == value)
                if not pts:
                    continue
                for ax, metric in zip(ax_row, ("accuracy", "nll", "ece")):
                    ax.plot(
                        [x for x, _ in pts],
                        [r[metric] for _, r in pts],
                        marker="o",
                        linestyle=style,
                        color=colors[variant],
                        label=f"{label}, {name.format(value)}",
                    )
        ticks = sorted({r[key] for r in rows if r[fixed] in values})
        for ax, metric in zip(ax_row, ("test accuracy", "test NLL", "test ECE")):
            ax.set_xlabel(xlabel)
            ax.set_ylabel(metric)
            ax.set_xscale("log", base=2)
            ax.set_xticks(ticks, [f"{t:,}" for t in ticks])
            ax.minorticks_off()
            ax.grid(alpha=0.3)
        if values:
            ax_row[2].legend(fontsize=7, bbox_to_anchor=(1.03, 1), loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)


def plot_ensemble_size(rows, path):
    """Test NLL and accuracy against M (1 = single model) at every point with MIMO M=2 and M=3."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = {"single_s0": 1, "mimo2": 2, "mimo3": 3}
    points = sorted({(r["width"], r["train_examples"]) for r in rows if r["variant"] == "mimo3"})
    if not points:
        return
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for point in points:
        at = {r["variant"]: r for r in rows if (r["width"], r["train_examples"]) == point}
        pts = sorted((m, at[v]) for v, m in sizes.items() if v in at)
        label = f"MIMO, width {point[0]}, {point[1]:,} examples"
        for ax, metric in zip(axes, ("nll", "accuracy")):
            ax.plot([m for m, _ in pts], [r[metric] for _, r in pts], marker="o", label=label)
            if "deep_ensemble2" in at:
                ax.plot(
                    [2],
                    [at["deep_ensemble2"][metric]],
                    marker="s",
                    linestyle="none",
                    label=f"deep ensemble of 2, width {point[0]}, {point[1]:,} examples",
                )
    for ax, metric in zip(axes, ("test NLL", "test accuracy")):
        ax.set_xlabel("ensemble size M (1 = single model)")
        ax.set_ylabel(metric)
        ax.set_xticks([1, 2, 3])
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_curves(curves, path):
    """Test accuracy during training (2,000 test images) of single and MIMO, one panel per point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = sorted(curves)
    fig, axes = plt.subplots(1, len(points), figsize=(3.6 * len(points), 3.4), squeeze=False)
    for ax, point in zip(axes[0], points):
        for variant, curve in sorted(curves[point].items()):
            epochs = [p["epoch"] for p in curve]
            ax.plot(epochs, [p["ensemble_accuracy"] for p in curve], marker=".", label=PLOTTED.get(variant, variant))
            if len(curve[0]["member_accuracy"]) > 1:
                ax.plot(
                    epochs,
                    [sum(p["member_accuracy"]) / len(p["member_accuracy"]) for p in curve],
                    linestyle="--",
                    label=f"{variant} mean member",
                )
        ax.set_title(f"WRN width {point[0]}, {point[1]:,} examples", fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test accuracy")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--npz_dir", default=None, help="local CIFAR-10 npz copy (default: TFDS)")
    parser.add_argument("--data_dir", default=None, help="TFDS data directory")
    parser.add_argument(
        "--points",
        type=parse_point,
        nargs="+",
        default=[(2, 2000), (2, 5000), (2, 10000), (1, 2000)],
        help="WIDTH:TRAIN_EXAMPLES pairs",
    )
    parser.add_argument("--unique_rows", type=int, default=200000, help="epochs x training examples per point")
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--batch_repetitions", type=int, default=2)
    parser.add_argument("--input_repetition_probability", type=float, default=0.0)
    parser.add_argument("--corruption_examples", type=int, default=1000)
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["single_s0", "mimo2", "single_s1"],
        choices=[v[0] for v in cifar10_quality.VARIANTS],
        help="variants to train at every point",
    )
    parser.add_argument("--run_dir", default=os.path.join(ROOT, "runs", "capacity_sweep"))
    parser.add_argument("--docs_dir", default=os.path.join(ROOT, "docs"))
    parser.add_argument("--report_only", action="store_true")
    return parser


def main():
    args = parser().parse_args()
    os.makedirs(args.run_dir, exist_ok=True)
    if not args.report_only:
        for point in args.points:
            qargs = quality_args(args, point, args.variants)
            os.makedirs(qargs.run_dir, exist_ok=True)
            cifar10_quality.train_variants(qargs, cifar10_quality.profile_from_args(qargs))
    rows, curves = [], {}
    for point in args.points:
        variants = point_results(quality_args(args, point, []))
        rows += summarize(point, point_epochs(args, point[1]), variants)
        curves[point] = {
            n: r["learning_curve"]
            for n, r in variants.items()
            if n in ("single_s0", "mimo2", "mimo3") and r.get("learning_curve")
        }
    out = os.path.join(args.docs_dir, "results")
    os.makedirs(out, exist_ok=True)
    settings = {
        k: getattr(args, k)
        for k in (
            "points",
            "unique_rows",
            "depth",
            "batch_repetitions",
            "input_repetition_probability",
            "corruption_examples",
        )
    }
    with open(os.path.join(out, "capacity_sweep.json"), "w") as f:
        json.dump(
            {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "settings": settings, "rows": rows},
            f,
            indent=1,
        )
    table = markdown(rows)
    with open(os.path.join(out, "capacity_sweep.md"), "w") as f:
        f.write(table + "\n")
    if rows:
        plot(rows, os.path.join(out, "capacity_sweep.png"))
        plot_curves(curves, os.path.join(out, "capacity_sweep_curves.png"))
        plot_ensemble_size(rows, os.path.join(out, "capacity_sweep_nll_vs_m.png"))
    print(table)


if __name__ == "__main__":
    main()
