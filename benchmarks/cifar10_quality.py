r"""Quality study on real CIFAR-10: single model vs MIMO vs deep ensemble.

Every variant trains the same backbone for the same number of epochs with the
reference recipe (`keras_mimo.applications.cifar_training.train`, which
examples/cifar_resnet.py calls too), then is scored with the package's own
evaluator on the clean test set and on corrupted test sets
(15 types x 5 severities, generated once with imagecorruptions and shared by
all variants). Deep ensembles are formed from the single models' saved
files. Per-variant results are written as they finish (a rerun skips
finished variants), then the report is (re)built. Profiles that train on
the first `train_examples` images also fit each variant's temperature on
the last `--calibration_examples` (5,000) training images, never seen in
training, and report the test metrics before and after scaling:

    # CPU profile (this repository's 2-core machine; see docs/results.md)
    python -m benchmarks.cifar10_quality --npz_dir path/to/cifar10_npz --profile cpu
    # GPU profile: the reference WRN-28-10 recipe
    python -m benchmarks.cifar10_quality --npz_dir path/to/cifar10_npz --profile gpu
    # CPU, 2,000 examples for 100 epochs, with temperature scaling
    python -m benchmarks.cifar10_quality --npz_dir path/to/cifar10_npz --profile cpu_small_data
    # a 10-minute H100 study: WRN-16-8, 10,000 examples, 60 epochs, no corruptions
    KERAS_BACKEND=jax python -m benchmarks.cifar10_quality --npz_dir <cifar10 npz dir> --profile gpu_short
    # rebuild docs/results/quality.json, the plots and tables only
    python -m benchmarks.cifar10_quality --report_only
"""

import argparse
import dataclasses
import functools
import json
import os
import time

import numpy as np

from benchmarks import common
from benchmarks.common import cached_corrupted_sets
from keras_mimo.applications import cifar_training
from keras_mimo.datasets import cifar

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

PROFILES = {
    # CPU: WRN-10-2 (0.30M parameters) trains at ~800 images/s on 2 cores, the
    # speed of ResNet-20 but twice its width: MIMO's subnetworks need width.
    "cpu": dict(
        depth=10,
        width_multiplier=2,
        epochs=10,
        batch_repetitions=2,
        input_repetition_probability=0.0,
        corruption_examples=1000,
    ),
    "gpu": dict(
        depth=28,
        width_multiplier=10,
        epochs=250,
        batch_repetitions=4,
        input_repetition_probability=0.0,
        corruption_examples=0,
    ),
    # CPU, small data: the capacity sweep's point where MIMO wins (WRN-10-2 on
    # the first 2,000 training images, 100 epochs); singles of seeds 0 and 1
    # and MIMO M=2; clean test set only. Temperatures are fitted on the last
    # --calibration_examples training images, which training never sees.
    "cpu_small_data": dict(
        depth=10,
        width_multiplier=2,
        epochs=100,
        batch_repetitions=2,
        input_repetition_probability=0.0,
        corruption_examples=-1,
        train_examples=2000,
        variants=["single_s0", "mimo2", "single_s1"],
    ),
    # One H100 in under 10 minutes (JAX, numpy pipeline): WRN-16-8 on the
    # first 10,000 training images, 60 epochs; singles of seeds 0-2 and MIMO
    # M=3 b=4 (the deep ensembles of 2 and 3 come from the singles); clean
    # test set only.
    "gpu_short": dict(
        depth=16,
        width_multiplier=8,
        epochs=60,
        batch_repetitions=4,
        input_repetition_probability=0.0,
        corruption_examples=-1,
        train_examples=10000,
        variants=["single_s0", "mimo3", "single_s1", "single_s2"],
    ),
}
# Profile keys a command-line flag of the same name may override.
OVERRIDABLE = ("depth", "width_multiplier", "batch_repetitions", "input_repetition_probability", "corruption_examples")
# (name, ensemble_size, seed). Order: the first single and MIMO M=2 first,
# so a cut-short run still gives a comparison.
VARIANTS = [
    ("single_s0", 1, 0),
    ("mimo2", 2, 0),
    ("single_s1", 1, 1),
    ("single_s2", 1, 2),
    ("mimo3", 3, 0),
]


class MemberCurve:
    """Keras callback: per-member and ensemble test accuracy during training (about 20 points)."""

    def __new__(cls, *args, **kwargs):
        import keras

        class _Curve(keras.callbacks.Callback):
            def __init__(self, x, y, rows_per_epoch, epochs):
                super().__init__()
                self.x, self.y, self.rows_per_epoch, self.points = x, y, rows_per_epoch, []
                self.every, self.epochs = max(1, epochs // 20), epochs  # at most ~20 points

            def on_epoch_end(self, epoch, logs=None):
                if (epoch + 1) % self.every and epoch + 1 != self.epochs:
                    return
                members = self.model.predict_members(self.x, batch_size=500, verbose=0)
                self.points.append(
                    {
                        "epoch": epoch + 1,
                        "rows_seen": (epoch + 1) * self.rows_per_epoch,
                        "member_accuracy": [
                            float(np.mean(members[:, m].argmax(-1) == self.y)) for m in range(members.shape[1])
                        ],
                        "ensemble_accuracy": float(np.mean(members.mean(1).argmax(-1) == self.y)),
                    }
                )

        return _Curve(*args, **kwargs)


def shared_corrupted_sets(args, profile, x_test, y_test):
    """The corrupted sets every variant is scored on, or (None, None) when the profile has none."""
    if profile["corruption_examples"] < 0:
        return None, None
    n = profile["corruption_examples"] or len(x_test)
    from keras_mimo.evaluation import CORRUPTIONS
    from keras_mimo.evaluation import SEVERITIES

    return cached_corrupted_sets(
        x_test[:n], y_test[:n], CORRUPTIONS, SEVERITIES, corruption_cache(args, n), progress=True
    )


def corruption_cache(args, n):
    """Where the corrupted sets of the first n test examples are cached."""
    return args.corruption_cache or os.path.join(args.run_dir, f"corrupted_{n}.npz")


def score_corruptions(model, sets, labels):
    """cA, cNLL, cECE and per-corruption accuracy/NLL/ECE/Brier on the shared sets (None: no sets)."""
    from keras_mimo.evaluation import evaluate_corruptions

    if sets is None:
        return None
    result = evaluate_corruptions(model, None, labels, preprocess=cifar.normalize, batch_size=500, verbose=0, sets=sets)
    for by_severity in result["per_corruption"].values():
        for s, r in by_severity.items():
            by_severity[s] = {k: r[k] for k in ("accuracy", "nll", "ece", "brier")}
    return result


def load_cifar10(args):
    """CIFAR-10 `(x_train, y_train, x_test, y_test)`, the test set cut to --test_examples.

    From --npz_dir, else through TFDS (--data_dir); read once per process
    (training, reliability, deep ensembles and temperature scaling share the
    arrays, which are read-only).
    """
    return _load_cifar10(args.npz_dir, args.data_dir, args.test_examples)


@functools.cache
def _load_cifar10(npz_dir, data_dir, test_examples):
    x_train, y_train, x_test, y_test = cifar.load_npz(npz_dir) if npz_dir else cifar.load_tfds("cifar10", data_dir)
    if test_examples:
        x_test, y_test = x_test[:test_examples], y_test[:test_examples]
    arrays = (x_train, y_train, x_test, y_test)
    for a in arrays:
        a.setflags(write=False)
    return arrays


def train_variants(args, profile):
    x_train, y_train, x_test, y_test = load_cifar10(args)
    sets, labels = shared_corrupted_sets(args, profile, x_test, y_test)
    train_examples = args.train_examples or profile.get("train_examples", 0)
    wanted = args.variants or profile.get("variants") or [v[0] for v in VARIANTS]
    for name, ensemble_size, seed in common.variants_in_order(VARIANTS, wanted):
        out = os.path.join(args.run_dir, name)
        if os.path.exists(os.path.join(out, "result.json")):
            print(f"{name}: done already", flush=True)
            continue
        import keras

        keras.backend.clear_session()
        reps = profile["batch_repetitions"] if ensemble_size > 1 else 1
        config = cifar_training.TrainConfig(
            npz_dir=args.npz_dir,
            data_dir=args.data_dir,
            depth=profile["depth"],
            width_multiplier=profile["width_multiplier"],
            epochs=profile["epochs"],
            ensemble_size=ensemble_size,
            batch_repetitions=reps,
            input_repetition_probability=profile["input_repetition_probability"] if ensemble_size > 1 else 0.0,
            seed=seed,
            output_dir=out,
            verbose=2,
            validation_freq=10**6,
            test_examples=args.test_examples,
            train_examples=train_examples,
        )
        steps = (train_examples or len(x_train)) // config.batch_size
        curve = MemberCurve(
            cifar.normalize(x_test[:2000]), y_test[:2000], steps * config.batch_size * reps, config.epochs
        )
        start = time.time()
        metrics = cifar_training.train(config, extra_callbacks=[curve])
        model = keras.models.load_model(os.path.join(out, "model.keras"))
        result = {
            "name": name,
            "ensemble_size": ensemble_size,
            "seed": seed,
            "batch_repetitions": reps,
            "input_repetition_probability": config.input_repetition_probability,
            "test": metrics["test"],
            "corrupted": score_corruptions(model, sets, labels),
            "train_seconds": metrics["train_seconds"],
            "wall_seconds": time.time() - start,
            "rows_processed": steps * config.batch_size * reps * config.epochs,
            "unique_examples_seen": steps * config.batch_size * config.epochs,
            "parameters": metrics["parameters"],
            "learning_curve": curve.points,
            "config": dataclasses.asdict(config),
        }
        with open(os.path.join(out, "result.json"), "w") as f:
            json.dump(result, f, indent=1, default=str)
        print(
            f"{name}: acc {metrics['test']['accuracy']:.4f} nll {metrics['test']['nll']:.4f} "
            f"ece {metrics['test']['ece']:.4f} ({result['wall_seconds']:.0f} s)",
            flush=True,
        )


def deep_ensembles(args):
    """Evaluates deep ensembles of the finished single models (2 and 3 members)."""
    import keras

    import keras_mimo

    singles = [v[0] for v in VARIANTS if v[1] == 1]
    done = [s for s in singles if os.path.exists(os.path.join(args.run_dir, s, "model.keras"))]
    results = {}
    if len(done) < 2:
        return results
    _, _, x_test, y_test = load_cifar10(args)
    models = [keras.models.load_model(os.path.join(args.run_dir, s, "model.keras")) for s in done]
    sets, labels = shared_corrupted_sets(args, profile_from_args(args), x_test, y_test)
    singles_results = [json.load(open(os.path.join(args.run_dir, s, "result.json"))) for s in done]
    for k in range(2, len(done) + 1):
        members = models[:k]
        results[f"deep_ensemble{k}"] = {
            "name": f"deep_ensemble{k}",
            "ensemble_size": k,
            "members": done[:k],
            "test": keras_mimo.evaluate_ensemble(members, cifar.normalize(x_test), y_test, verbose=0),
            "corrupted": score_corruptions(members, sets, labels),
            "train_seconds": sum(r["train_seconds"] for r in singles_results[:k]),
            "rows_processed": sum(r["rows_processed"] for r in singles_results[:k]),
            "parameters": sum(r["parameters"] for r in singles_results[:k]),
        }
    return results


def add_reliability(variants, args):
    """Reliability bins for variants whose result predates them (from the saved models)."""
    import keras

    from keras_mimo.evaluation import member_probabilities
    from keras_mimo.evaluation import reliability_bins

    missing = [n for n, r in variants.items() if "reliability" not in r["test"]]
    if not missing:
        return
    _, _, x_test, y_test = load_cifar10(args)
    for name in missing:
        model = keras.models.load_model(os.path.join(args.run_dir, name, "model.keras"))
        probs = member_probabilities(model, cifar.normalize(x_test), 500, verbose=0)
        variants[name]["test"]["reliability"] = reliability_bins(probs.mean(1), y_test)


def calibration_examples(args, train_size: int) -> int:
    """How many of the last training images are held out for temperature fitting (0: none).

    They are held out only when training uses the first `train_examples`
    images and does not reach them.
    """
    train_examples = args.train_examples or profile_from_args(args).get("train_examples", 0)
    n = args.calibration_examples
    if not n or not train_examples or train_examples + n > train_size:
        return 0
    return n


def add_temperature_scaling(variants, args):
    """Per variant: the temperature fitted on held-out training images, test metrics before and after.

    Deep ensembles are scaled as ensembles: `softmax(log p / T)` with `p` the
    members' mean probability (what `keras_mimo.calibration.fit_temperature`
    fits for a list of models).
    """
    import keras

    from keras_mimo import calibration
    from keras_mimo.evaluation import scores_from_probabilities

    x_train, y_train, x_test, y_test = load_cifar10(args)
    n = calibration_examples(args, len(x_train))
    if not n:
        print("temperature scaling: skipped (training reaches the last --calibration_examples training images)")
        return
    x_cal, y_cal = cifar.normalize(x_train[-n:]), y_train[-n:]
    loaded = {}

    def load(name):
        if name not in loaded:
            loaded[name] = keras.models.load_model(os.path.join(args.run_dir, name, "model.keras"))
        return loaded[name]

    for name, result in variants.items():
        models = [load(m) for m in result["members"]] if "members" in result else load(name)
        temperature = calibration.fit_temperature(models, x_cal, y_cal, batch_size=500)
        log_p = calibration.ensemble_log_probabilities(models, cifar.normalize(x_test), batch_size=500)
        scaled = calibration.scaled_log_probabilities(log_p, temperature)[:, None]
        after = scores_from_probabilities(np.exp(scaled), y_test, log_probs=scaled)
        keys = ("accuracy", "nll", "ece", "brier")
        result["temperature_scaling"] = {
            "temperature": temperature,
            "calibration_examples": n,
            "calibration_images": f"training images {len(x_train) - n}..{len(x_train) - 1}",
            "before": {k: result["test"][k] for k in keys},
            "after": {k: after[k] for k in keys},
        }
        print(
            f"{name}: T = {temperature:.3f}, NLL {result['test']['nll']:.4f} -> {after['nll']:.4f}, "
            f"ECE {result['test']['ece']:.4f} -> {after['ece']:.4f}",
            flush=True,
        )


def finished_variants(run_dir):
    """{variant name: result} of every variant whose result.json is in run_dir."""
    return common.finished_variants(run_dir, [name for name, _, _ in VARIANTS])


def report(args):
    from benchmarks import quality_report

    variants = finished_variants(args.run_dir)
    add_reliability(variants, args)
    variants.update(deep_ensembles(args))
    add_temperature_scaling(variants, args)
    quality_report.write(variants, args)


def parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--npz_dir", default=None, help="local CIFAR-10 npz copy (default: TFDS)")
    parser.add_argument("--data_dir", default=None, help="TFDS data directory")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="cpu")
    parser.add_argument("--epochs", type=int, default=0, help="override the profile's epochs")
    parser.add_argument("--variants", nargs="*", default=[], help="subset of variant names")
    parser.add_argument("--run_dir", default=os.path.join(ROOT, "runs", "quality"))
    parser.add_argument("--docs_dir", default=os.path.join(ROOT, "docs"))
    parser.add_argument(
        "--corruption_cache", default=None, help="npz cache of the corrupted sets (default: in run_dir)"
    )
    parser.add_argument("--test_examples", type=int, default=0)
    parser.add_argument("--train_examples", type=int, default=0)
    parser.add_argument(
        "--calibration_examples",
        type=int,
        default=5000,
        help="the last N training images fit the temperatures (when training does not use them)",
    )
    for key in OVERRIDABLE:
        parser.add_argument(
            f"--{key}", type=type(PROFILES["cpu"][key]), default=None, help="override the profile's value"
        )
    parser.add_argument("--report_only", action="store_true")
    return parser


def profile_from_args(args):
    """The chosen profile with the command line's overrides applied."""
    profile = dict(PROFILES[args.profile])
    if args.epochs:
        profile["epochs"] = args.epochs
    profile.update({k: getattr(args, k) for k in OVERRIDABLE if getattr(args, k) is not None})
    return profile


def main():
    args = parser().parse_args()
    os.makedirs(args.run_dir, exist_ok=True)
    if not args.report_only:
        train_variants(args, profile_from_args(args))
    report(args)


if __name__ == "__main__":
    main()
