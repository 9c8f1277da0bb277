"""Tables, plots and JSON for the CIFAR-10 quality study (docs/results/)."""

import json
import os
import platform

import numpy as np

ROWS = [
    ("accuracy", "Acc", lambda r: r["test"]["accuracy"]),
    ("nll", "NLL", lambda r: r["test"]["nll"]),
    ("ece", "ECE", lambda r: r["test"]["ece"]),
    ("brier", "Brier", lambda r: r["test"]["brier"]),
    ("member_acc", "member acc", lambda r: r["test"]["mean_member_accuracy"]),
    ("disagreement", "disagr.", lambda r: r["test"]["disagreement"]),
    ("cA", "cA", lambda r: (r.get("corrupted") or {}).get("cA")),
    ("cNLL", "cNLL", lambda r: (r.get("corrupted") or {}).get("cNLL")),
    ("cECE", "cECE", lambda r: (r.get("corrupted") or {}).get("cECE")),
]


def _fmt(v):
    if v is None:
        return "-"
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def table(variants):
    head = "| variant | M | forward passes | " + " | ".join(h for _, h, _ in ROWS) + " | rows processed | train s |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, r in variants.items():
        passes = r["ensemble_size"] if name.startswith("deep") else 1
        cells = [_fmt(f(r)) for _, _, f in ROWS]
        lines.append(
            f"| {name} | {r['ensemble_size']} | {passes} | "
            + " | ".join(cells)
            + f" | {r.get('rows_processed', 0):,} | {r.get('train_seconds', 0):.0f} |"
        )
    return "\n".join(lines)


def temperature_table(variants):
    """Markdown: test metrics before and after temperature scaling, per variant ('' when none was fitted)."""
    scaled = {n: r["temperature_scaling"] for n, r in variants.items() if r.get("temperature_scaling")}
    if not scaled:
        return ""
    head = "| variant | forward passes | T | Acc | NLL before | NLL after | ECE before | ECE after | Brier before | Brier after |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, t in scaled.items():
        passes = variants[name]["ensemble_size"] if name.startswith("deep") else 1
        b, a = t["before"], t["after"]
        lines.append(
            f"| {name} | {passes} | {t['temperature']:.3f} | {a['accuracy']:.4f} | {b['nll']:.4f} | "
            f"{a['nll']:.4f} | {b['ece']:.4f} | {a['ece']:.4f} | {b['brier']:.4f} | {a['brier']:.4f} |"
        )
    return "\n".join(lines)


def gap_closure(variants):
    """(NLL_single - NLL_mimo) / (NLL_single - NLL_deep_ensemble) per MIMO variant."""
    single = variants.get("single_s0")
    de = variants.get("deep_ensemble3") or variants.get("deep_ensemble2")
    if not single or not de:
        return {}
    gap = single["test"]["nll"] - de["test"]["nll"]
    return {
        name: {
            "nll_gap_closed": (single["test"]["nll"] - r["test"]["nll"]) / gap if gap else None,
            "against": de["name"],
        }
        for name, r in variants.items()
        if name.startswith("mimo")
    }


def plots(variants, out_dir, prefix="quality"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = {}
    # severity curves (profiles with corrupted test sets only)
    corrupted = {name: r for name, r in variants.items() if r.get("corrupted")}
    if corrupted:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for name, r in corrupted.items():
            sev = r["corrupted"]["per_severity"]
            xs = [0] + [int(s) for s in sev]
            axes[0].plot(xs, [r["test"]["accuracy"]] + [sev[s]["accuracy"] for s in sev], marker="o", label=name)
            axes[1].plot(xs, [r["test"]["nll"]] + [sev[s]["nll"] for s in sev], marker="o", label=name)
        for ax, t in zip(axes, ("accuracy", "NLL")):
            ax.set_xlabel("corruption severity (0 = clean)")
            ax.set_ylabel(t)
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        paths["severity"] = os.path.join(out_dir, f"{prefix}_severity.png")
        fig.tight_layout()
        fig.savefig(paths["severity"], dpi=90)
        plt.close(fig)
    # NLL vs ensemble size
    fig, ax = plt.subplots(figsize=(5, 4))
    single = variants.get("single_s0")
    for kind, label in (("mimo", "MIMO (1 forward pass)"), ("deep_ensemble", "deep ensemble (M passes)")):
        pts = sorted((r["ensemble_size"], r["test"]["nll"]) for n, r in variants.items() if n.startswith(kind))
        if single:
            pts = [(1, single["test"]["nll"])] + pts
        if pts:
            ax.plot(*zip(*pts), marker="o", label=label)
    ax.set_xlabel("ensemble size M")
    ax.set_ylabel("test NLL")
    ax.grid(alpha=0.3)
    ax.legend()
    paths["ensemble_size"] = os.path.join(out_dir, f"{prefix}_nll_vs_m.png")
    fig.tight_layout()
    fig.savefig(paths["ensemble_size"], dpi=90)
    plt.close(fig)
    # learning curves
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, r in variants.items():
        curve = r.get("learning_curve")
        if not curve:
            continue
        rows = [p["rows_seen"] for p in curve]
        ax.plot(rows, [p["ensemble_accuracy"] for p in curve], marker="o", label=f"{name} ensemble")
        if r["ensemble_size"] > 1:
            members = np.array([p["member_accuracy"] for p in curve])
            ax.plot(rows, members.mean(1), linestyle="--", label=f"{name} mean member")
    ax.set_xlabel("rows seen per member")
    ax.set_ylabel("test accuracy (2000 examples)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    paths["learning_curves"] = os.path.join(out_dir, f"{prefix}_learning_curves.png")
    fig.tight_layout()
    fig.savefig(paths["learning_curves"], dpi=90)
    plt.close(fig)
    # reliability diagrams
    shown = ("single_s0", "mimo2", "mimo3", "deep_ensemble2", "deep_ensemble3")
    named = [(n, r) for n, r in variants.items() if n in shown and "reliability" in r["test"]]
    if named:
        fig, axes = plt.subplots(1, len(named), figsize=(3.2 * len(named), 3.4), squeeze=False)
        for ax, (name, r) in zip(axes[0], named):
            rel = r["test"]["reliability"]
            width = 1.0 / len(rel["count"])
            centers = [e - width / 2 for e in rel["bin_upper_edges"]]
            acc = [a if a is not None else 0.0 for a in rel["accuracy"]]
            ax.bar(centers, acc, width=width, edgecolor="black", alpha=0.7, label="accuracy")
            ax.plot([0, 1], [0, 1], "k--", linewidth=1)
            ax.set_title(f"{name}\nECE {r['test']['ece']:.4f}", fontsize=9)
            ax.set_xlabel("confidence")
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
        axes[0][0].set_ylabel("accuracy")
        paths["reliability"] = os.path.join(out_dir, f"{prefix}_reliability.png")
        fig.tight_layout()
        fig.savefig(paths["reliability"], dpi=90)
        plt.close(fig)
    return paths


def write(variants, args):
    """quality.json, quality_table.md and plots (quality_<profile>_* for profiles other than cpu)."""
    profile = getattr(args, "profile", None)
    prefix = "quality" if profile in (None, "cpu") else f"quality_{profile}"
    out_dir = os.path.join(args.docs_dir, "results")
    os.makedirs(out_dir, exist_ok=True)
    summary = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "profile": getattr(args, "profile", None),
        "variants": variants,
        "nll_gap_closed": gap_closure(variants),
    }
    with open(os.path.join(out_dir, f"{prefix}.json"), "w") as f:
        json.dump(summary, f, indent=1, default=str)
    md = table(variants)
    with open(os.path.join(out_dir, f"{prefix}_table.md"), "w") as f:
        f.write(md + "\n")
    scaled = temperature_table(variants)
    if scaled:
        with open(os.path.join(out_dir, f"{prefix}_temperature.md"), "w") as f:
            f.write(scaled + "\n")
        print(scaled)
    if variants:
        plots(variants, out_dir, prefix)
    print(md)
    print(json.dumps(summary["nll_gap_closed"], indent=1))
