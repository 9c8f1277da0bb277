r"""Where does MIMO pay? Selective prediction, shift, OOD and conformal sets on CIFAR-10.

In-distribution (ID): CIFAR-10 classes 0-5 (airplane, automobile, bird, cat,
deer, dog). Out-of-distribution (OOD): the test images of classes 6-9 (frog,
horse, ship, truck), real images never seen in training: a near-OOD
protocol that runs offline. `--ood_dataset svhn_cropped` (any TFDS image set
of 32x32x3 images) adds a far-OOD set for users with a network.

Every variant trains the reference recipe
(`keras_mimo.applications.cifar_training.train`, which
examples/cifar_resnet.py calls too) on the first `train_examples` ID
training images; the last `--calibration_examples`
ID training images, never trained on, fit each variant's temperature and
its conformal thresholds. Variants: two singles, MIMO (M=2, and M=3 in the
CPU profile), the deep ensemble of the two singles; each scored before and
after temperature scaling on the clean ID test images, on corrupted ID test
images (the clean-fitted temperature), against the OOD sets, and with 90 %
split-conformal prediction sets (LAC, APS). Finished variants are skipped on
a rerun; the report is rebuilt from the saved models.

    # CPU (one core, about 2 hours): WRN-10-2 on 2,000 ID images, 100 epochs
    XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \
    KERAS_BACKEND=tensorflow taskset -c 0 python -m benchmarks.cifar10_shift_ood --npz_dir path/to/cifar10_npz --profile cpu
    # GPU (one H100/H200, about 10 minutes): WRN-16-8 on 10,000 ID images, 60 epochs
    KERAS_BACKEND=jax python -m benchmarks.cifar10_shift_ood --npz_dir path/to/cifar10_npz --profile gpu
    # rebuild docs/results/shift_ood_<profile>.{json,md} and the plot only
    python -m benchmarks.cifar10_shift_ood --npz_dir path/to/cifar10_npz --profile cpu --report_only
"""

import argparse
import dataclasses
import functools
import json
import os
import time

import numpy as np

from benchmarks import common
from benchmarks import shift_ood_report
from benchmarks.shift_ood_report import ALPHA  # noqa: F401 - the study's settings live with its report
from benchmarks.shift_ood_report import CORRUPTION_TYPES  # noqa: F401
from benchmarks.shift_ood_report import SEVERITIES  # noqa: F401
from keras_mimo.applications import cifar_training
from keras_mimo.datasets import cifar

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

IN_CLASSES = 6  # ID = labels 0..5, OOD = labels 6..9
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

PROFILES = {
    # The capacity sweep's regime where MIMO has capacity to spare (WRN-10-2 on
    # 2,000 images, 100 epochs: docs/results.md "Where MIMO starts to win"),
    # sized for one core of the 2-core CPU machine.
    "cpu": dict(
        depth=10,
        width_multiplier=2,
        epochs=100,
        batch_repetitions=2,
        train_examples=2000,
        variants=["single_s0", "mimo2", "single_s1", "mimo3"],
        corruption_examples=1000,
    ),
    # One H100/H200 in about 10 minutes (JAX): WRN-16-8 on 10,000 ID images, 60 epochs.
    "gpu": dict(
        depth=16,
        width_multiplier=8,
        epochs=60,
        batch_repetitions=4,
        train_examples=10000,
        variants=["single_s0", "mimo3", "single_s1"],
        corruption_examples=2000,
    ),
    # Cut-MixMo against MIMO and the singles, sized to a part of one CPU session.
    "mixmo_cpu": dict(
        depth=10,
        width_multiplier=2,
        epochs=60,
        batch_repetitions=2,
        train_examples=1000,
        variants=["single_s0", "cut_mixmo2", "mimo2", "linear_mixmo2", "single_s1"],
        corruption_examples=500,
    ),
    # The same comparison at GPU scale (one H100/H200, JAX): WRN-16-8 on 10,000 ID images.
    "mixmo_gpu": dict(
        depth=16,
        width_multiplier=8,
        epochs=60,
        batch_repetitions=2,
        train_examples=10000,
        variants=["single_s0", "cut_mixmo2", "mimo2", "linear_mixmo2", "single_s1"],
        corruption_examples=2000,
    ),
}
# (name, ensemble_size, seed, mixing)
VARIANTS = [
    ("single_s0", 1, 0, "none"),
    ("cut_mixmo2", 2, 0, "cut"),
    ("mimo2", 2, 0, "none"),
    ("linear_mixmo2", 2, 0, "linear"),
    ("single_s1", 1, 1, "none"),
    ("mimo3", 3, 0, "none"),
]


@functools.cache
def _load(npz_dir, data_dir):
    data = cifar.load_npz(npz_dir) if npz_dir else cifar.load_tfds("cifar10", data_dir)
    for a in data:
        a.setflags(write=False)
    return data


def split(args, profile) -> dict:
    """The study's arrays (uint8 images, int32 labels), read once per process.

    `train`: the first `train_examples` ID training images; `calibration`:
    the last `calibration_examples` ID training images (disjoint from
    `train`); `test`: the ID test images (cut to --test_examples);
    `ood`: {name: OOD images}.
    """
    x_train, y_train, x_test, y_test = _load(args.npz_dir, args.data_dir)
    train_in, test_in = y_train < IN_CLASSES, y_test < IN_CLASSES
    xi, yi = x_train[train_in], y_train[train_in]
    n_train, n_cal = train_examples(args, profile), args.calibration_examples
    if n_train + n_cal > len(xi):
        raise ValueError(
            f"--train_examples ({n_train}) + --calibration_examples ({n_cal}) exceed the "
            f"{len(xi)} in-distribution training images."
        )
    xt, yt, xo = x_test[test_in], y_test[test_in], x_test[~test_in]
    if args.test_examples:
        xt, yt, xo = xt[: args.test_examples], yt[: args.test_examples], xo[: args.test_examples]
    ood = {"cifar10_classes_6_9": xo}
    if args.ood_dataset:
        ood[args.ood_dataset] = load_tfds_images(args.ood_dataset, args.data_dir, args.test_examples)
    return {
        "train": (xi[:n_train], yi[:n_train]),
        "calibration": (xi[-n_cal:], yi[-n_cal:]),
        "calibration_range": f"in-distribution training images {len(xi) - n_cal}..{len(xi) - 1}",
        "test": (xt, yt),
        "ood": ood,
    }


def load_tfds_images(name, data_dir, limit=0):
    """uint8 test images `(N, 32, 32, 3)` of a TFDS dataset (e.g. `svhn_cropped`)."""
    import tensorflow_datasets as tfds

    ds = tfds.load(name, split="test", data_dir=data_dir, as_supervised=True)
    images = np.concatenate([b[0] for b in tfds.as_numpy(ds.batch(4096))]).astype(np.uint8)
    if images.shape[1:] != (32, 32, 3):
        raise ValueError(f"--ood_dataset {name!r} has images of shape {images.shape[1:]}, not (32, 32, 3).")
    return images[:limit] if limit else images


def train_examples(args, profile) -> int:
    return args.train_examples or profile["train_examples"]


def profile_from_args(args) -> dict:
    profile = dict(PROFILES[args.profile])
    for key in ("epochs", "depth", "width_multiplier"):
        if getattr(args, key):
            profile[key] = getattr(args, key)
    if args.variants:
        profile["variants"] = args.variants
    return profile


def train_variants(args, profile):
    import keras

    data = split(args, profile)
    for name, ensemble_size, seed, mixing in common.variants_in_order(VARIANTS, profile["variants"]):
        out = os.path.join(args.run_dir, name)
        if os.path.exists(os.path.join(out, "result.json")):
            print(f"{name}: done already", flush=True)
            continue
        keras.backend.clear_session()
        reps = profile["batch_repetitions"] if ensemble_size > 1 else 1
        config = cifar_training.TrainConfig(
            npz_dir=args.npz_dir,
            data_dir=args.data_dir,
            depth=profile["depth"],
            width_multiplier=profile["width_multiplier"],
            epochs=profile["epochs"],
            ensemble_size=ensemble_size,
            mixing=mixing,
            batch_repetitions=reps,
            input_repetition_probability=0.0,
            seed=seed,
            output_dir=out,
            verbose=2,
            validation_freq=10**6,
            batch_size=args.batch_size,
        )
        start = time.time()
        metrics = cifar_training.train(config, data=(*data["train"], *data["test"]), num_classes=IN_CLASSES)
        result = {
            "name": name,
            "ensemble_size": ensemble_size,
            "mixing": mixing,
            "seed": seed,
            "batch_repetitions": reps,
            "train_examples": len(data["train"][0]),
            "train_seconds": metrics["train_seconds"],
            "wall_seconds": time.time() - start,
            "parameters": metrics["parameters"],
            "backend": metrics["backend"],
            "config": dataclasses.asdict(config),
        }
        with open(os.path.join(out, "result.json"), "w") as f:
            json.dump(result, f, indent=1, default=str)
        print(
            f"{name}: acc {metrics['test']['accuracy']:.4f} nll {metrics['test']['nll']:.4f} "
            f"({result['wall_seconds']:.0f} s)",
            flush=True,
        )


def parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--npz_dir", default=None, help="local CIFAR-10 npz copy (default: TFDS)")
    parser.add_argument("--data_dir", default=None, help="TFDS data directory")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="cpu")
    parser.add_argument("--variants", nargs="*", default=[], help="subset of variant names")
    parser.add_argument("--epochs", type=int, default=0, help="override the profile's epochs")
    parser.add_argument("--depth", type=int, default=0, help="override the profile's depth")
    parser.add_argument("--width_multiplier", type=int, default=0, help="override the profile's width")
    parser.add_argument("--train_examples", type=int, default=0, help="override the profile's ID training images")
    parser.add_argument(
        "--calibration_examples",
        type=int,
        default=5000,
        help="the last N ID training images fit temperatures and conformal thresholds",
    )
    parser.add_argument("--batch_size", type=int, default=128, help="unique examples per step (the recipe's 128)")
    parser.add_argument("--test_examples", type=int, default=0, help="cut the ID and OOD test sets (smoke tests)")
    parser.add_argument(
        "--corruption_examples",
        type=int,
        default=-1,
        help="ID test images per corrupted set (-1: the profile's, 0: no corrupted sets)",
    )
    parser.add_argument("--ood_dataset", default=None, help="an extra TFDS OOD set, e.g. svhn_cropped")
    parser.add_argument("--run_dir", default=None, help="default: runs/shift_ood_<profile>")
    parser.add_argument("--docs_dir", default=os.path.join(ROOT, "docs"))
    parser.add_argument("--report_only", action="store_true")
    return parser


def main():
    args = parser().parse_args()
    args.run_dir = args.run_dir or os.path.join(ROOT, "runs", f"shift_ood_{args.profile}")
    os.makedirs(args.run_dir, exist_ok=True)
    profile = profile_from_args(args)
    if not args.report_only:
        train_variants(args, profile)
    report(args, profile)


def report(args, profile):

    shift_ood_report.write(args, profile, split(args, profile))


if __name__ == "__main__":
    main()
