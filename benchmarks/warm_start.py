r"""Warm start: a trained single model made a MIMO ensemble that keeps its weights.

`keras_mimo.convert(model, 2, weights="keep")` starts the ensemble from the
trained weights (before any training it predicts what the single predicts);
does fine-tuning it pay, and after how many epochs?

CIFAR part (`--part cifar`): the shift/OOD study's `cpu` profile (WRN-10-2,
2,000 images of CIFAR-10 classes 0-5, 100 epochs). Its trained singles are
read from `--base_dir` (runs/shift_ood_cpu; train them with
`python -m benchmarks.cifar10_shift_ood --profile cpu --variants single_s0
single_s1`). From `single_s0`, each fine-tuned for `--epochs` (30) epochs
at a constant learning rate `--learning_rate` with the recipe's SGD,
augmentation and 128 unique images per step, scored after 10 and 30 epochs:

- `single_ft`: the single itself;
- `mimo2_warm`: `convert(single_s0, 2, weights="keep")` (M = 2, batch
  repetitions 2 as the study's MIMO);
- `mimo2_warm_noise`: the same with `member_noise=--member_noise`.

Scored as the shift/OOD study scores (benchmarks/shift_ood_report.py: the
temperature fitted on the 5,000 held-out ID images, then clean, corrupted
and held-out-class OOD figures) next to the start (`single_s0`), the deep
ensemble of the two singles, and MIMO M = 2 from scratch (100 epochs; its
row is read from docs/results/shift_ood_cpu.json, the same protocol).

UCI part (`--part uci`): on `--datasets` (yacht, energy: where MIMO beats the
single in docs/results/uci_regression.md), per published split: the
single Gaussian MLP of benchmarks/uci_regression.py (50 hidden units, early
stopping), then from it the single fine-tuned and the warm MIMO M = 2 (same
width, batch repetitions 2), each fine-tuned by the same early-stopped
training for at most `--uci_epochs` epochs; and the same MIMO from fresh
weights (`mimo2_scratch`), trained as the single was.

    KERAS_BACKEND=tensorflow taskset -c 0 python -m benchmarks.warm_start --part cifar \
        --npz_dir path/to/cifar10_npz
    KERAS_BACKEND=jax python -m benchmarks.warm_start --part uci --data_dir path/to/UCI_Datasets

Writes docs/results/warm_start_{cifar,uci}.{json,md}. Resumable: finished
variants are kept in --run_dir.
"""

import argparse
import json
import os
import time

import numpy as np

from benchmarks import cifar10_shift_ood
from benchmarks import common
from benchmarks import shift_ood_report

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SNAPSHOTS = (10, 30)
# name: (ensemble_size, member_noise flag)
CIFAR_VARIANTS = {"single_ft": 1, "mimo2_warm": 2, "mimo2_warm_noise": 2}
UCI_VARIANTS = ("single", "single_ft", "mimo2_warm", "mimo2_scratch")


# -- CIFAR


def _study_args(args):
    """The shift/OOD study's arguments for its `cpu` profile (the data split, the corrupted sets).

    The study parser's defaults (no command line parsed), with this study's
    data, folders and cuts set on them.
    """
    study = cifar10_shift_ood.parser().parse_args([])
    vars(study).update(
        profile="cpu",
        run_dir=args.base_dir,
        npz_dir=args.npz_dir,
        data_dir=args.data_dir,
        test_examples=args.test_examples,
        calibration_examples=args.calibration_examples,
    )
    if args.train_examples:
        study.train_examples = args.train_examples
    return study, cifar10_shift_ood.profile_from_args(study)


def load_base(base_dir, name):
    import keras

    path = os.path.join(base_dir, name, "model.keras")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{path} is missing: train the shift/OOD study's singles first "
            "(python -m benchmarks.cifar10_shift_ood --profile cpu --variants single_s0 single_s1 --npz_dir ...)."
        )
    return keras.models.load_model(path)


def fine_tune(name, args, data):
    """Fine-tunes one variant from single_s0, saving `<name>_e<E>` at each snapshot epoch."""
    import keras

    import keras_mimo
    from keras_mimo.datasets import cifar_pipeline

    outs = {e: os.path.join(args.run_dir, f"{name}_e{e}") for e in SNAPSHOTS if e <= args.epochs}
    if all(os.path.exists(os.path.join(o, "result.json")) for o in outs.values()):
        print(f"{name}: done already", flush=True)
        return
    keras.backend.clear_session()
    keras.utils.set_random_seed(args.seed)
    base = load_base(args.base_dir, "single_s0")
    ensemble_size = CIFAR_VARIANTS[name]
    if ensemble_size == 1:
        model = base
    else:
        noise = args.member_noise if name.endswith("noise") else 0.0
        model = keras_mimo.convert(
            base, ensemble_size, weights="keep", member_noise=noise, batch_repetitions=2, seed=args.seed
        )
    model.compile(
        optimizer=keras.optimizers.SGD(args.learning_rate, momentum=0.9, nesterov=True),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    x, y = data["train"]
    train = cifar_pipeline.tf_train_dataset(x, y, args.batch_size, args.seed)
    start = time.time()

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            out = outs.get(epoch + 1)
            if out is None:
                return
            os.makedirs(out, exist_ok=True)
            self.model.save(os.path.join(out, "model.keras"))
            result = {
                "name": f"{name}_e{epoch + 1}",
                "fine_tune_epochs": epoch + 1,
                "train_seconds": time.time() - start,
                "parameters": int(self.model.count_params()),
                "ensemble_size": ensemble_size,
                "batch_repetitions": 2 if ensemble_size > 1 else 1,
                "member_noise": args.member_noise if name.endswith("noise") else 0.0,
                "learning_rate": args.learning_rate,
                "backend": keras.backend.backend(),
            }
            common.write_json(result, os.path.join(out, "result.json"))

    model.fit(
        train,
        epochs=max(outs),
        steps_per_epoch=len(x) // args.batch_size,
        callbacks=[Snapshot()],
        verbose=2,
        shuffle=False,
    )


def _disagreement(probs) -> float | None:
    from keras_mimo.metrics import diversity

    return diversity.disagreement(probs) if probs.shape[1] > 1 else None


def cifar_report(args, data, study_args, profile):
    names = ["single_s0"] + [f"{n}_e{e}" for e in SNAPSHOTS for n in CIFAR_VARIANTS if e <= args.epochs]
    dirs = {"single_s0": args.base_dir, "single_s1": args.base_dir}
    found = {
        n: r for n, r in common.finished_variants(args.run_dir, names).items() if n != "single_s0"
    } | common.finished_variants(args.base_dir, ["single_s0", "single_s1"])
    x_test, y_test = data["test"]
    n_corrupt = profile["corruption_examples"] if args.corruption_examples < 0 else args.corruption_examples
    n_corrupt = min(n_corrupt, len(x_test))
    sets = {"calibration": data["calibration"][0], "test": x_test}
    sets.update({f"ood:{k}": v for k, v in data["ood"].items()})
    cache = os.path.join(args.base_dir, f"corrupted_{n_corrupt}.npz")
    sets.update(
        common.cached_corrupted_sets(
            x_test[:n_corrupt],
            y_test[:n_corrupt],
            shift_ood_report.CORRUPTION_TYPES,
            shift_ood_report.SEVERITIES,
            cache,
        )[0]
    )
    labels = {"calibration": data["calibration"][1], "test": y_test, "corrupted": y_test[:n_corrupt]}
    predictions = {d: shift_ood_report.Predictions(d, sets) for d in {args.run_dir, args.base_dir}}
    scored = {}
    for name in [n for n in ["single_s0", *names[1:], "single_s1"] if n in found]:
        preds = predictions[dirs.get(name, args.run_dir)].of(name)
        scored[name] = shift_ood_report.score_variant(preds, labels, shift_ood_report.ALPHA)
        scored[name]["disagreement"] = _disagreement(preds["test"][0])
        print(f"{name}: scored", flush=True)
    if "single_s1" in scored:
        preds = predictions[args.base_dir].ensemble(["single_s0", "single_s1"])
        scored["deep_ensemble2"] = shift_ood_report.score_variant(preds, labels, shift_ood_report.ALPHA)
        scored["deep_ensemble2"]["disagreement"] = _disagreement(preds["test"][0])
        found["deep_ensemble2"] = {
            "train_seconds": found["single_s0"]["train_seconds"] + found["single_s1"]["train_seconds"]
        }
    from_scratch = os.path.join(args.docs_dir, "results", "shift_ood_cpu.json")
    if os.path.exists(from_scratch):
        with open(from_scratch) as f:
            study = json.load(f)
        if "mimo2" in study["variants"]:
            scored["mimo2_scratch"] = study["variants"]["mimo2"]
            found["mimo2_scratch"] = {"train_seconds": study["training"]["mimo2"]["train_seconds"]}
    report = {
        "protocol": {
            "base": "shift/OOD study, profile cpu: WRN-10-2, 2,000 images of CIFAR-10 classes 0-5, 100 epochs",
            "fine_tuning": f"SGD nesterov momentum 0.9, constant learning rate {args.learning_rate}, "
            f"{args.batch_size} unique images per step, the recipe's augmentation",
            "snapshots": [e for e in SNAPSHOTS if e <= args.epochs],
            "member_noise": args.member_noise,
            "mimo2_scratch": "read from docs/results/shift_ood_cpu.json (trained 100 epochs from scratch)",
            "test_images": len(x_test),
            "corrupted_images_per_set": n_corrupt,
        },
        "training": {n: {"train_seconds": found[n]["train_seconds"]} for n in scored if n in found},
        "variants": scored,
    }
    prefix = os.path.join(args.docs_dir, "results", "warm_start_cifar")
    common.write_json(report, prefix + ".json")
    with open(prefix + ".md", "w") as f:
        f.write(cifar_table(report))
    print(f"report: {prefix}.json, .md", flush=True)
    return report


def cifar_table(report) -> str:
    rows = []
    for name, v in report["variants"].items():
        after = v["after"]
        sev = after["per_severity"]
        ood = next(iter(after["ood"].values()), {})  # the held-out classes: {score: {"auroc", "fpr95"}}
        seconds = report["training"].get(name, {}).get("train_seconds")
        rows.append(
            [
                name,
                "-" if seconds is None else f"{seconds:.0f}",
                f"{after['clean']['accuracy']:.4f}",
                f"{after['clean']['nll']:.4f}",
                f"{after['clean']['ece']:.4f}",
                f"{after['clean']['aurc']:.4f}",
                *[f"{sev[s]['nll']:.3f}" for s in ("1", "3", "5")],
                *[f"{ood[k]['auroc']:.4f}" if k in ood else "-" for k in ("max_prob", "mutual_information")],
                "-" if v.get("disagreement") is None else f"{v['disagreement']:.4f}",
            ]
        )
    header = [
        "variant",
        "train s",
        "Acc",
        "NLL",
        "ECE",
        "AURC",
        "NLL sev 1",
        "NLL sev 3",
        "NLL sev 5",
        "OOD AUROC max-prob",
        "OOD AUROC MI",
        "disagreement",
    ]
    return (
        "### Warm start on CIFAR-10 classes 0-5 (after temperature scaling; `train s`: fine-tuning seconds, or "
        "the whole training for the single, the deep ensemble and MIMO from scratch)\n\n"
        + common.markdown_table(header, rows)
        + "\n"
    )


# -- UCI


def uci_split(name, split, args):
    """One split's scores of the single, the single fine-tuned and the warm MIMO."""
    import keras

    import keras_mimo
    from benchmarks import uci_regression

    x_train, y_train, x_test, y_test = uci_regression.load_split(args.data_dir, name, split)
    x_mean, x_std = x_train.mean(0), x_train.std(0)
    x_std[x_std == 0] = 1.0
    y_mean, y_std = y_train.mean(0), y_train.std(0)
    xs, ys = ((x_train - x_mean) / x_std).astype("float32"), ((y_train - y_mean) / y_std).astype("float32")
    xt, yt = ((x_test - x_mean) / x_std).astype("float32"), (y_test - y_mean) / y_std
    train_args = argparse.Namespace(**{**vars(args), "epochs": args.uci_base_epochs})
    tune_args = argparse.Namespace(**{**vars(args), "epochs": args.uci_epochs})
    keras.utils.set_random_seed(args.seed)
    out = {}

    def score(model, seconds, epochs):
        s = keras_mimo.evaluate_regression(model, xt, yt, y_scale=float(y_std[0]), verbose=0)
        return {"rmse": s["rmse"], "ll": -s["nll"], "seconds": seconds, "epochs": epochs}

    start = time.time()
    base = uci_regression.gaussian_mlp(xs.shape[1], args.hidden, seed=args.seed)
    epochs = uci_regression.train(base, xs, ys, train_args)
    out["single"] = score(base, time.time() - start, epochs)
    weights = base.get_weights()
    for variant in UCI_VARIANTS[1:]:
        keras.utils.set_random_seed(args.seed + 1)
        start = time.time()
        if variant == "single_ft":
            model = uci_regression.gaussian_mlp(xs.shape[1], args.hidden, seed=args.seed)
            model.set_weights(weights)
        elif variant == "mimo2_warm":
            model = keras_mimo.convert(base, 2, weights="keep", batch_repetitions=2, seed=args.seed)
        else:  # the same MIMO from fresh weights, trained as the single was
            model = uci_regression.gaussian_mlp(xs.shape[1], args.hidden, 2, repetitions=2, seed=args.seed)
        epochs = uci_regression.train(model, xs, ys, train_args if variant == "mimo2_scratch" else tune_args)
        out[variant] = score(model, time.time() - start, epochs)
    return out


def uci_report(args):
    from benchmarks import uci_regression

    results = {}
    for name in args.datasets:
        splits = uci_regression.n_splits(args.data_dir, name)
        splits = min(splits, args.max_splits) if args.max_splits else splits
        per_split = []
        for split in range(splits):
            path = os.path.join(args.run_dir, "uci", name, f"split_{split}.json")
            if not os.path.exists(path):
                common.write_json(uci_split(name, split, args), path)
            with open(path) as f:
                per_split.append(json.load(f))
        results[name] = {
            variant: {
                key: float(np.mean([s[variant][key] for s in per_split])) for key in ("rmse", "ll", "seconds", "epochs")
            }
            | {
                f"{key}_se": float(np.std([s[variant][key] for s in per_split]) / np.sqrt(len(per_split)))
                for key in ("rmse", "ll")
            }
            | {"splits": len(per_split)}
            for variant in UCI_VARIANTS
        }
        print(f"{name}: {len(per_split)} splits", flush=True)
    prefix = os.path.join(args.docs_dir, "results", "warm_start_uci")
    common.write_json(results, prefix + ".json")
    rows = [
        [
            name,
            variant,
            f"{r['rmse']:.3f} +- {r['rmse_se']:.3f}",
            f"{r['ll']:.3f} +- {r['ll_se']:.3f}",
            f"{r['epochs']:.0f}",
            f"{r['seconds']:.1f}",
            r["splits"],
        ]
        for name, variants in results.items()
        for variant, r in variants.items()
    ]
    with open(prefix + ".md", "w") as f:
        f.write(
            "### Warm start on UCI regression (test RMSE and log likelihood, mean +- se over splits; epochs: "
            "chosen by early stopping; seconds: training, or fine-tuning)\n\n"
            + common.markdown_table(["dataset", "variant", "RMSE", "LL", "epochs", "seconds", "splits"], rows)
            + "\n"
        )
    print(f"report: {prefix}.json, .md", flush=True)
    return results


def parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=("cifar", "uci"), required=True)
    p.add_argument("--npz_dir", default=None, help="local CIFAR-10 npz copy (default: TFDS)")
    p.add_argument("--data_dir", default=None, help="TFDS data directory (cifar) or the UCI_Datasets folder (uci)")
    p.add_argument("--base_dir", default=os.path.join(ROOT, "runs", "shift_ood_cpu"))
    p.add_argument("--run_dir", default=os.path.join(ROOT, "runs", "warm_start"))
    p.add_argument("--docs_dir", default=os.path.join(ROOT, "docs"))
    p.add_argument("--variants", nargs="*", default=list(CIFAR_VARIANTS), choices=list(CIFAR_VARIANTS))
    p.add_argument("--epochs", type=int, default=max(SNAPSHOTS), help="fine-tuning epochs (snapshots at 10, 30)")
    p.add_argument("--learning_rate", type=float, default=0.01, help="constant fine-tuning learning rate (SGD)")
    p.add_argument("--member_noise", type=float, default=0.1)
    p.add_argument("--batch_size", type=int, default=128)
    p.add_argument("--train_examples", type=int, default=0, help="override the profile's (smoke tests)")
    p.add_argument("--test_examples", type=int, default=0, help="cut the test sets (smoke tests)")
    p.add_argument("--calibration_examples", type=int, default=5000, help="as the shift/OOD study's")
    p.add_argument("--corruption_examples", type=int, default=-1, help="as the shift/OOD study's (-1: the profile's)")
    p.add_argument("--report_only", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    # UCI
    p.add_argument("--datasets", nargs="*", default=["yacht", "energy"])
    p.add_argument("--max_splits", type=int, default=0)
    p.add_argument("--hidden", type=int, default=50)
    p.add_argument("--uci_base_epochs", type=int, default=1000, help="the single's upper bound (early stopping)")
    p.add_argument("--uci_epochs", type=int, default=1000, help="fine-tuning upper bound (early stopping)")
    p.add_argument("--patience", type=int, default=40)
    p.add_argument("--learning_rate_uci", type=float, default=3e-3)
    p.add_argument("--uci_batch_size", type=int, default=32)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    os.makedirs(args.run_dir, exist_ok=True)
    if args.part == "uci":
        # benchmarks/uci_regression.train's settings
        args.learning_rate, args.batch_size = args.learning_rate_uci, args.uci_batch_size
        args.large_batch_size, args.large_rows, args.steps_per_execution = 128, 4000, 8
        return uci_report(args)
    study_args, profile = _study_args(args)
    data = cifar10_shift_ood.split(study_args, profile)
    if not args.report_only:
        for name in args.variants:
            fine_tune(name, args, data)
    return cifar_report(args, data, study_args, profile)


if __name__ == "__main__":
    main()
