"""Scores and report of the shift/OOD study (benchmarks/cifar10_shift_ood.py).

Each model predicts every set once (members' probabilities and, for logits
heads, log-probabilities); deep ensembles concatenate their singles'
members. Everything after that is numpy on those predictions, through the
package's public functions (temperature, conformal, selective, OOD).
"""

import json
import os
import time

import numpy as np

from benchmarks.common import cached_corrupted_sets
from benchmarks.common import finished_variants
from keras_mimo import calibration
from keras_mimo import conformal
from keras_mimo import metrics
from keras_mimo import ensembles
from keras_mimo.datasets import cifar
from keras_mimo.evaluation import member_predictions
from keras_mimo.evaluation import scores_from_probabilities

# The study's shift and conformal settings (benchmarks/cifar10_shift_ood.py reads them here).
CORRUPTION_TYPES = ("gaussian_noise", "defocus_blur", "fog", "contrast", "jpeg_compression")
SEVERITIES = (1, 3, 5)
ALPHA = 0.1  # 90 % prediction sets

CLEAN_KEYS = ("accuracy", "nll", "ece", "adaptive_ece", "aurc", "augrc", "risk_at_80_coverage")
OOD_SCORES = ("max_prob", "entropy", "mutual_information")
CONFORMAL_SCORES = ("lac", "aps")


class Predictions:
    """Members' predictions of each model on each named set, computed once."""

    def __init__(self, run_dir, sets):
        self.run_dir, self.sets, self.cache, self.models = run_dir, sets, {}, {}

    def model(self, name):
        if name not in self.models:
            import keras

            self.models[name] = keras.models.load_model(os.path.join(self.run_dir, name, "model.keras"))
        return self.models[name]

    def of(self, name):
        """{set name: (probs (N, M, K), log_probs (N, M, K))} of a trained variant."""
        if name not in self.cache:
            model = self.model(name)
            self.cache[name] = {
                key: member_predictions(model, cifar.normalize(x), 500, verbose=0) for key, x in self.sets.items()
            }
        return self.cache[name]

    def ensemble(self, names):
        """The deep ensemble's members: the singles' concatenated."""
        parts = [self.of(n) for n in names]
        return {key: tuple(np.concatenate([p[key][i] for p in parts], axis=1) for i in range(2)) for key in self.sets}


def ensemble_log_probs(probs, log_probs):
    """`(N, K)` log of the mean member probability (log space for logits models)."""
    if log_probs is None:
        return ensembles.to_numpy(ensembles.log_probabilities(ensembles.ensemble_probabilities(probs)))
    return ensembles.to_numpy(ensembles.log_mean_exp(log_probs))


def clean_scores(log_p, labels) -> dict:
    """Accuracy, NLL, ECE, adaptive ECE, AURC, AUGRC and risk at 80 % coverage of `softmax(log_p)`."""
    probs = np.exp(log_p)
    scores = scores_from_probabilities(probs[:, None], labels, log_probs=log_p[:, None])
    confidence, correct = probs.max(-1), probs.argmax(-1) == labels
    scores["risk_at_80_coverage"] = metrics.risk_at_coverage(confidence, correct, 0.8)
    return {k: scores[k] for k in CLEAN_KEYS}


def ood_scores(in_log_p, out_log_p, in_members, out_members) -> dict:
    """AUROC and FPR95 of max-probability and entropy (of `log_p`) and mutual information (members)."""
    p_in, p_out = np.exp(in_log_p), np.exp(out_log_p)
    scores = {
        "max_prob": (1 - p_in.max(-1), 1 - p_out.max(-1)),
        "entropy": tuple(ensembles.to_numpy(ensembles.entropy(p)) for p in (p_in, p_out)),
        "mutual_information": tuple(
            ensembles.to_numpy(ensembles.mutual_information(m)) for m in (in_members, out_members)
        ),
    }
    return {name: {"auroc": metrics.auroc(*s), "fpr95": metrics.fpr_at_95_tpr(*s)} for name, s in scores.items()}


def conformal_scores(cal_log_p, cal_labels, evaluations, alpha) -> dict:
    """Per score: the threshold and, per evaluated set, coverage and mean set size."""
    out = {}
    for score in CONFORMAL_SCORES:
        cal = conformal.class_scores(np.exp(cal_log_p), score)[np.arange(len(cal_labels)), cal_labels]
        q = conformal.conformal_quantile(cal, alpha)
        out[score] = {"threshold": q}
        for key, (log_p, labels) in evaluations.items():
            sets = conformal.prediction_sets(np.exp(log_p), q, score)
            out[score][key] = {
                "coverage": float(sets[np.arange(len(labels)), labels].mean()),
                "mean_size": float(sets.sum(-1).mean()),
            }
    return out


def score_variant(preds, labels, alpha) -> dict:
    """Every figure of one variant, before and after temperature scaling."""
    cal_labels, test_labels, corr_labels = labels["calibration"], labels["test"], labels["corrupted"]
    log_p = {key: ensemble_log_probs(*p) for key, p in preds.items()}
    temperature = calibration.temperature_from_log_probabilities(log_p["calibration"], cal_labels)
    result = {"temperature": temperature, "ensemble_size": int(preds["test"][0].shape[1])}
    corrupted_keys = [k for k in preds if isinstance(k, tuple)]
    ood_keys = [k for k in preds if isinstance(k, str) and k.startswith("ood:")]
    for state in ("before", "after"):
        t = 1.0 if state == "before" else temperature
        scaled = {key: calibration.scaled_log_probabilities(lp, t) for key, lp in log_p.items()}
        corrupted = {f"{c}@{s}": clean_scores(scaled[(c, s)], corr_labels) for c, s in corrupted_keys}
        severities = sorted({s for _, s in corrupted_keys})
        evaluations = {"test": (scaled["test"], test_labels)}
        evaluations.update(
            {
                f"severity_{s}": (
                    np.concatenate([scaled[k] for k in corrupted_keys if k[1] == s]),
                    np.tile(corr_labels, sum(1 for k in corrupted_keys if k[1] == s)),
                )
                for s in severities
            }
        )
        result[state] = {
            "clean": clean_scores(scaled["test"], test_labels),
            "corrupted": corrupted,
            "per_severity": {
                str(s): {
                    k: float(np.mean([corrupted[f"{c}@{s2}"][k] for c, s2 in corrupted_keys if s2 == s]))
                    for k in CLEAN_KEYS
                }
                for s in severities
            },
            "ood": {
                key[4:]: ood_scores(scaled["test"], scaled[key], preds["test"][0], preds[key][0]) for key in ood_keys
            },
            "conformal": conformal_scores(scaled["calibration"], cal_labels, evaluations, alpha),
        }
    return result


def inference_seconds(models: dict, x, repeats: int = 3) -> dict:
    """Median seconds of one `predict(x, batch_size=500)` per model, interleaved after a warm-up each."""
    x = cifar.normalize(x)
    for model in models.values():
        model.predict(x[:500], batch_size=500, verbose=0)
    times = {name: [] for name in models}
    for _ in range(repeats):
        for name, model in models.items():
            start = time.perf_counter()
            model.predict(x, batch_size=500, verbose=0)
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def write(args, profile, data):
    """Scores every finished variant and writes docs/results/shift_ood_<profile>.{json,md,png}."""
    names = [n for n in profile["variants"]]
    variants = finished_variants(args.run_dir, names)
    if not variants:
        print("report: no finished variants")
        return None
    x_test, y_test = data["test"]
    n_corrupt = profile["corruption_examples"] if args.corruption_examples < 0 else args.corruption_examples
    n_corrupt = min(n_corrupt, len(x_test))
    sets = {"calibration": data["calibration"][0], "test": x_test}
    sets.update({f"ood:{k}": v for k, v in data["ood"].items()})
    if n_corrupt:
        cache = os.path.join(args.run_dir, f"corrupted_{n_corrupt}.npz")
        sets.update(
            cached_corrupted_sets(x_test[:n_corrupt], y_test[:n_corrupt], CORRUPTION_TYPES, SEVERITIES, cache)[0]
        )
    labels = {"calibration": data["calibration"][1], "test": y_test, "corrupted": y_test[:n_corrupt]}
    predictions = Predictions(args.run_dir, sets)
    scored = {}
    for name in variants:
        scored[name] = score_variant(predictions.of(name), labels, ALPHA)
        print(f"{name}: scored", flush=True)
    singles = [n for n in variants if n.startswith("single")]
    if len(singles) >= 2:
        scored[f"deep_ensemble{len(singles)}"] = score_variant(predictions.ensemble(singles), labels, ALPHA)
        scored[f"deep_ensemble{len(singles)}"]["members"] = singles
    inference = inference_seconds({n: predictions.model(n) for n in variants}, x_test)
    report = {
        "protocol": {
            "in_distribution": "CIFAR-10 classes 0-5",
            "ood": sorted(data["ood"]),
            "train_images": len(data["train"][0]),
            "calibration_images": data["calibration_range"],
            "test_images": len(x_test),
            "corrupted_images_per_set": n_corrupt,
            "corruptions": list(CORRUPTION_TYPES) if n_corrupt else [],
            "severities": list(SEVERITIES),
            "alpha": ALPHA,
            "profile": args.profile,
            **{k: v for k, v in profile.items() if k != "variants"},
        },
        "training": {
            n: {
                **{k: r[k] for k in ("train_seconds", "parameters", "ensemble_size", "batch_repetitions", "backend")},
                "inference_seconds": inference[n],  # predict on the ID test set, median of 3, interleaved
            }
            for n, r in variants.items()
        },
        "variants": scored,
    }
    out = os.path.join(args.docs_dir, "results")
    os.makedirs(out, exist_ok=True)
    prefix = os.path.join(out, f"shift_ood_{args.profile}")
    with open(prefix + ".json", "w") as f:
        json.dump(report, f, indent=1)
    with open(prefix + ".md", "w") as f:
        f.write(tables(report))
    plot(report, prefix + ".png")
    print(f"report: {prefix}.json, .md, .png", flush=True)
    return report


def _passes(name, result):
    return result["ensemble_size"] if name.startswith("deep") else 1


def tables(report) -> str:
    """The Markdown tables of the report."""
    v = report["variants"]
    lines = [
        "### Clean in-distribution test images (before -> after temperature scaling)",
        "",
        "| variant | passes | T | Acc | NLL | ECE | adaptive ECE | AURC | AUGRC | Risk@80Cov |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in v.items():
        b, a = r["before"]["clean"], r["after"]["clean"]
        cells = [f"{b[k]:.4f} -> {a[k]:.4f}" for k in CLEAN_KEYS[1:]]
        lines.append(
            f"| {name} | {_passes(name, r)} | {r['temperature']:.3f} | {a['accuracy']:.4f} | "
            + " | ".join(cells)
            + " |"
        )
    severities = sorted({s for r in v.values() for s in r["after"]["per_severity"]}, key=int)
    if severities:
        lines += [
            "",
            "### Corrupted test images, mean over corruption types (clean-fitted temperature)",
            "",
            "| variant | severity | Acc | NLL | ECE | adaptive ECE | AURC | NLL before T |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, r in v.items():
            for s in severities:
                a, b = r["after"]["per_severity"][s], r["before"]["per_severity"][s]
                lines.append(
                    f"| {name} | {s} | {a['accuracy']:.4f} | {a['nll']:.4f} | {a['ece']:.4f} | "
                    f"{a['adaptive_ece']:.4f} | {a['aurc']:.4f} | {b['nll']:.4f} |"
                )
    for ood in sorted({k for r in v.values() for k in r["after"]["ood"]}):
        lines += [
            "",
            f"### OOD detection: {ood} (AUROC higher is better, FPR95 lower; after temperature scaling)",
            "",
            "| variant | AUROC max-prob | AUROC entropy | AUROC MI | FPR95 max-prob | FPR95 entropy | FPR95 MI |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, r in v.items():
            o = r["after"]["ood"][ood]
            lines.append(
                f"| {name} | "
                + " | ".join(f"{o[s]['auroc']:.4f}" for s in OOD_SCORES)
                + " | "
                + " | ".join(f"{o[s]['fpr95']:.4f}" for s in OOD_SCORES)
                + " |"
            )
    alpha = report["protocol"]["alpha"]
    keys = ["test"] + [f"severity_{s}" for s in severities]
    lines += [
        "",
        f"### Conformal prediction sets, target coverage {1 - alpha:.0%} (after temperature scaling)",
        "",
        "| variant | score | " + " | ".join(f"{k} coverage | {k} size" for k in keys) + " |",
        "|---|---|" + "---|---|" * len(keys),
    ]
    for name, r in v.items():
        for score in CONFORMAL_SCORES:
            c = r["after"]["conformal"][score]
            lines.append(
                f"| {name} | {score} | "
                + " | ".join(f"{c[k]['coverage']:.3f} | {c[k]['mean_size']:.2f}" for k in keys)
                + " |"
            )
    lines += cost_table(report)
    return "\n".join(lines) + "\n"


def cost_table(report) -> list:
    """Training and inference seconds (deep ensembles: their singles' sums); the backend and machine of the run."""
    training = report.get("training", {})
    timed = {n: t for n, t in training.items() if "inference_seconds" in t}
    if not timed:
        return []
    base = next((t["inference_seconds"] for n, t in timed.items() if n.startswith("single")), None)
    rows = dict(timed)
    for name, r in report["variants"].items():
        if "members" in r and all(m in timed for m in r["members"]):
            rows[name] = {
                k: sum(timed[m][k] for m in r["members"]) for k in ("train_seconds", "inference_seconds", "parameters")
            }
    lines = [
        "",
        f"### Cost (backend {next(iter(timed.values()))['backend']}; inference: predict on the "
        f"{report['protocol']['test_images']:,} ID test images, median of 3, interleaved)",
        "",
        "| variant | parameters | train s | inference s | inference / single |",
        "|---|---|---|---|---|",
    ]
    for name, t in rows.items():
        ratio = f"{t['inference_seconds'] / base:.2f}" if base else "-"
        lines.append(
            f"| {name} | {t['parameters']:,} | {t['train_seconds']:.0f} | {t['inference_seconds']:.2f} | {ratio} |"
        )
    return lines


def plot(report, path):
    """Risk at 80 % coverage, NLL and LAC set size against corruption severity (after temperature scaling)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    v = report["variants"]
    severities = sorted({s for r in v.values() for s in r["after"]["per_severity"]}, key=int)
    xs = [0] + [int(s) for s in severities]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    panels = [("risk_at_80_coverage", "risk at 80 % coverage"), ("nll", "NLL")]
    for ax, (key, title) in zip(axes, panels):
        for name, r in v.items():
            ys = [r["after"]["clean"][key]] + [r["after"]["per_severity"][s][key] for s in severities]
            ax.plot(xs, ys, marker="o", label=name, linestyle="--" if name.startswith("single") else "-")
        ax.set(xlabel="corruption severity (0 = clean)", title=title)
    for name, r in v.items():
        c = r["after"]["conformal"]["lac"]
        ys = [c["test"]["mean_size"]] + [c[f"severity_{s}"]["mean_size"] for s in severities]
        axes[2].plot(xs, ys, marker="o", label=name, linestyle="--" if name.startswith("single") else "-")
    axes[2].set(xlabel="corruption severity (0 = clean)", title="90 % LAC set size")
    axes[2].legend(fontsize=8)
    fig.suptitle("CIFAR-10 classes 0-5: after temperature scaling on held-out images")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
