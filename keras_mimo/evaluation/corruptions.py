"""Corruption robustness: CIFAR-10-C-style test sets and their aggregates.

Corrupted images come from `imagecorruptions` (the maintained
`imagecorruptions-imaug` release of the ImageNet-C corruption code by
Hendrycks & Dietterich, on PyPI): 15 corruption types x 5 severities,
generated offline from any uint8 image test set, deterministic for a seed.
Its parameters are ImageNet-C's; on 32x32 images several types are harsher
than the published CIFAR-10-C, so compare figures made the same way only.
Where TFDS can download, `load_tfds_cifar10_corrupted` gives the published
CIFAR-10-C itself.

References:
    Hendrycks & Dietterich, "Benchmarking neural network robustness to
    common corruptions and perturbations", ICLR 2019.
"""

import numpy as np

__all__ = [
    "CORRUPTIONS",
    "SEVERITIES",
    "aggregate_corruption_results",
    "corrupt_images",
    "corrupted_sets",
    "default_preprocess",
    "evaluate_corruptions",
    "load_tfds_cifar10_corrupted",
]

import math
import numbers

from keras_mimo._validation import check_positive_int
from keras_mimo.ensembles.reading import EnsembleReader
from keras_mimo._validation import check_seed
from keras_mimo.evaluation.evaluate import scores_from_probabilities

CORRUPTIONS = (
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "defocus_blur",
    "glass_blur",
    "motion_blur",
    "zoom_blur",
    "snow",
    "frost",
    "fog",
    "brightness",
    "contrast",
    "elastic_transform",
    "pixelate",
    "jpeg_compression",
)
SEVERITIES = (1, 2, 3, 4, 5)
# These draw from their own generators and take an explicit per-call seed.
_SEEDED_CORRUPTIONS = ("impulse_noise", "glass_blur")
# Metrics averaged per severity (those present in every row).
_SEVERITY_KEYS = ("accuracy", "nll", "ece", "brier", "adaptive_ece", "aurc", "augrc")


def _check(corruption, severity, names=("corruption", "severity")) -> tuple:
    """`(corruption, severity as an int)`, else a ValueError / TypeError naming the argument (`names`)."""
    corruption_name, severity_name = names
    if not isinstance(corruption, str) or corruption not in CORRUPTIONS:
        raise ValueError(f"`{corruption_name}` must be one of {CORRUPTIONS}. Received: {corruption!r}")
    if isinstance(severity, (bool, np.bool_)) or not isinstance(severity, numbers.Integral):
        raise TypeError(
            f"`{severity_name}` must be an int in {SEVERITIES}. Received: severity={severity!r} of type "
            f"{type(severity).__name__}"
        )
    if severity not in SEVERITIES:
        raise ValueError(f"`{severity_name}` must be one of {SEVERITIES}. Received: {severity!r}")
    return corruption, int(severity)


def _names(corruptions) -> tuple:
    """`corruptions` as a tuple of names: one name (a string) is one corruption."""
    return (corruptions,) if isinstance(corruptions, str) else tuple(corruptions)


def corrupt_images(images, corruption: str, severity: int, seed: int = 0) -> np.ndarray:
    """Applies one corruption at one severity to every image.

    Args:
        images: uint8 array `(N, H, W, 3)` (H, W >= 32), channels last.
        corruption: one of `CORRUPTIONS`.
        severity: int in 1..5 (Python or numpy).
        seed: int (Python or numpy); the same seed gives the same images. The
            global numpy random state is restored afterwards.

    Returns:
        uint8 array `(N, H, W, 3)`.
    """
    corruption, severity = _check(corruption, severity)
    seed = check_seed(seed)
    if seed is None:
        raise TypeError("`seed` must be an int (Python or numpy integer). Received: seed=None")
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            "`images` must be a uint8 array (N, H, W, 3), channels last (transpose channels-first images with "
            f"images.transpose(0, 2, 3, 1)). Received: dtype {images.dtype}, shape {images.shape}"
        )
    if not len(images):
        return images.copy()
    from imagecorruptions import corrupt  # optional dependency: `[corruptions]`

    rng = np.random.default_rng([seed, CORRUPTIONS.index(corruption), severity])
    saved_state = np.random.get_state()
    np.random.seed(int(rng.integers(2**32)))
    try:
        out = np.empty_like(images)
        for i, image in enumerate(images):
            kwargs = {}
            if corruption in _SEEDED_CORRUPTIONS:
                kwargs["seed"] = int(rng.integers(2**31))
            corrupted = corrupt(image, severity=severity, corruption_name=corruption, **kwargs)
            out[i] = np.clip(np.asarray(corrupted), 0, 255).astype(np.uint8)
    finally:
        np.random.set_state(saved_state)
    return out


def corrupted_sets(images, corruptions=CORRUPTIONS, severities=SEVERITIES, seed: int = 0) -> dict:
    """Every corrupted copy of `images`, to generate once and score many models.

    `corruptions`: names from `CORRUPTIONS` (one name as a string is one
    corruption); `severities`: ints in 1..5.

    Returns:
        `{(corruption, severity): uint8 images (N, H, W, 3)}`, the `sets`
        argument of `evaluate_corruptions`.
    """
    pairs = [_check(c, s, ("corruptions", "severities")) for c in _names(corruptions) for s in severities]
    return {(c, s): corrupt_images(images, c, s, seed) for c, s in pairs}


def load_tfds_cifar10_corrupted(corruption: str, severity: int, data_dir=None, download=True):
    """The published CIFAR-10-C split `(images uint8, labels)` from TFDS."""
    corruption, severity = _check(corruption, severity)
    import tensorflow_datasets as tfds

    ds = tfds.load(
        f"cifar10_corrupted/{corruption}_{severity}",
        split="test",
        data_dir=data_dir,
        download=download,
        as_supervised=True,
    )
    batches = list(tfds.as_numpy(ds.batch(1024)))
    images = np.concatenate([b[0] for b in batches]).astype(np.uint8)
    labels = np.concatenate([b[1] for b in batches])
    return images, labels


def default_preprocess(images):
    """uint8 images to float32 in [0, 1]."""
    return images.astype("float32") / 255.0


def aggregate_corruption_results(per_corruption: dict) -> dict:
    """cA, cNLL, cECE (plain means over every (type, severity)) and per-severity means.

    Args:
        per_corruption: `{type: {severity: {"accuracy", "nll", "ece", ...}}}`.

    Returns:
        `{"cA", "cNLL", "cECE", "per_severity": {severity: means}}`; the
        per-severity means cover accuracy, NLL, ECE, Brier and, where the
        rows have them, `adaptive_ece`, `aurc` and `augrc`.

    Raises:
        ValueError: naming `per_corruption` when it is empty, a severity is
            not an integer, or a row lacks `accuracy`, `nll` or `ece` or
            holds a NaN or infinite figure.
    """
    per_corruption = _checked_results(per_corruption)
    rows = [r for by_sev in per_corruption.values() for r in by_sev.values()]
    summary = {
        "cA": float(np.mean([r["accuracy"] for r in rows])),
        "cNLL": float(np.mean([r["nll"] for r in rows])),
        "cECE": float(np.mean([r["ece"] for r in rows])),
        "per_severity": {},
    }
    severities = sorted({int(s) for by_sev in per_corruption.values() for s in by_sev})
    for s in severities:
        at = [by_sev[s] for by_sev in per_corruption.values() if s in by_sev]
        keys = [k for k in _SEVERITY_KEYS if all(k in r for r in at)]
        summary["per_severity"][str(s)] = {k: float(np.mean([r[k] for r in at])) for k in keys}
    return summary


def _severity_key(severity):
    """An int severity key (a Python or numpy int, or its string as JSON writes it), else None."""
    if isinstance(severity, str):
        return int(severity) if severity.strip().lstrip("-").isdigit() else None
    if isinstance(severity, (bool, np.bool_)) or not isinstance(severity, numbers.Integral):
        return None
    return int(severity)


def _checked_results(per_corruption) -> dict:
    """`{type: {int severity: row}}`, every row with finite `accuracy`, `nll`, `ece`; else a ValueError."""
    if not isinstance(per_corruption, dict) or not per_corruption:
        raise ValueError(
            f"`per_corruption` must be a non-empty dict {{type: {{severity: metrics}}}}. Received: {per_corruption!r:.80}"
        )
    checked = {}
    for corruption, by_severity in per_corruption.items():
        if not isinstance(by_severity, dict):
            raise ValueError(f"`per_corruption`[{corruption!r}] must be a dict {{severity: metrics}}.")
        checked[corruption] = {}
        for severity, row in by_severity.items():
            level = _severity_key(severity)
            if level is None:
                raise ValueError(
                    f"`per_corruption` must map each corruption to {{severity (an int): metrics}}. Received "
                    f"severity {severity!r} for {corruption!r}."
                )
            missing = [k for k in ("accuracy", "nll", "ece") if not isinstance(row, dict) or k not in row]
            if missing:
                raise ValueError(f"`per_corruption`[{corruption!r}][{severity!r}] lacks {missing}.")
            bad = [k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)]
            if bad:
                raise ValueError(f"`per_corruption`[{corruption!r}][{severity!r}] holds NaN or infinite {bad}.")
            checked[corruption][level] = row
    return checked


def evaluate_corruptions(
    model,
    images,
    labels,
    corruptions=CORRUPTIONS,
    severities=SEVERITIES,
    seed: int = 0,
    preprocess=default_preprocess,
    batch_size: int = 128,
    num_bins: int = 15,
    source: str = "imagecorruptions",
    data_dir=None,
    verbose: int = 1,
    sets: dict | None = None,
) -> dict:
    """Evaluates a model (MIMO, deep ensemble or single) on corrupted test sets.

    Args:
        model: as in `evaluate_ensemble`.
        images: uint8 clean test images `(N, H, W, 3)` (ignored for
            `source="tfds"` and with `sets`).
        labels: integer labels `(N,)` (ignored for `source="tfds"`).
        corruptions, severities: which (type, severity) pairs to run
            (ignored with `sets`).
        seed: corruption seed (`source="imagecorruptions"`).
        preprocess: uint8 images -> model inputs (default: float32 / 255).
        batch_size, num_bins: as in `evaluate_ensemble`.
        source: `"imagecorruptions"` (generated offline) or `"tfds"`
            (the published `cifar10_corrupted`, downloaded by TFDS).
        data_dir: TFDS data directory for `source="tfds"`.
        verbose: 1 shows a progress bar over the (type, severity) pairs.
        sets: precomputed corrupted images `{(type, severity): uint8 images}`
            (e.g. from `corrupted_sets`), all labelled by `labels`: scores
            several models on the same sets without generating them again.

    Returns:
        `{"per_corruption": {type: {severity: metrics}}, "cA", "cNLL", "cECE",
        "per_severity": {severity: means}}`, JSON-serialisable (severities
        become strings in JSON).
    """
    import keras

    if source not in ("imagecorruptions", "tfds"):
        raise ValueError(f"`source` must be 'imagecorruptions' or 'tfds'. Received: {source!r}")
    num_bins = check_positive_int(num_bins, "num_bins")
    batch_size = check_positive_int(batch_size, "batch_size")
    if sets is not None:
        checked = {_check(c, s, ("sets", "sets")): v for (c, s), v in sets.items()}
        pairs, sets = list(checked), checked
    else:
        pairs = [_check(c, s, ("corruptions", "severities")) for c in _names(corruptions) for s in severities]
    ensemble = EnsembleReader(model, argument="model")
    progress = (
        keras.utils.Progbar(len(pairs), unit_name="corruption", stateful_metrics=["accuracy"]) if verbose else None
    )
    per_corruption = {}
    for step, (corruption, severity) in enumerate(pairs):
        if sets is not None:
            x, y = sets[(corruption, severity)], labels
        elif source == "tfds":
            x, y = load_tfds_cifar10_corrupted(corruption, severity, data_dir)
        else:
            x, y = corrupt_images(images, corruption, severity, seed), labels
        probs, log_probs = ensemble.member_probabilities(preprocess(x), batch_size)
        per_corruption.setdefault(corruption, {})[severity] = scores_from_probabilities(probs, y, num_bins, log_probs)
        if progress is not None:
            progress.update(step + 1, [("accuracy", per_corruption[corruption][severity]["accuracy"])])
    return {"per_corruption": per_corruption, **aggregate_corruption_results(per_corruption)}
