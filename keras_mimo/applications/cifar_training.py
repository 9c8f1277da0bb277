r"""The reference CIFAR recipe as a library function: `train(TrainConfig(...))`.

One training engine for `examples/cifar_resnet.py` (which builds a
`TrainConfig` from its flags) and the benchmark studies (which build one per
variant). The defaults are the reference CIFAR recipe of Havasi et al.
(ICLR 2021; uncertainty-baselines `baselines/cifar/mimo.py`): WRN-28-10,
ensemble_size 3, input_repetition_probability 0, batch_repetitions 4, 128
unique examples per step in total (512 rows), SGD with Nesterov momentum 0.9,
learning rate 0.1 * 128 / 128 with a 1-epoch linear warm-up and x0.2 decays
at epochs 100, 200, 225 of 250 (the decay epochs scale with `epochs`), l2
3e-4, random 32x32 crop after 2 pixels of zero padding + flip applied per
example before the MIMO batching, batch-norm statistics per group of 64 rows
(the reference's unsynchronized batch norm on 8 cores), a logits head
trained with `from_logits=True`.

Batch size, repetitions and learning rate: each step takes `batch_size`
unique examples in total, split across replicas, and trains every member on
`batch_repetitions` times as many rows. The learning rate follows the global
number of UNIQUE examples per step (`base_learning_rate * unique / 128`), not
the rows, as in the reference. `rows_per_step` selects the reference's
batch-repetition ablation protocol instead: a fixed number of rows per step,
unique = rows_per_step / batch_repetitions.

`train` writes to `output_dir`: TensorBoard logs (`tb/`), a resumable backup
(`backup/`: training the same config again after a crash continues),
`model.keras` and `metrics.json` (`evaluate_ensemble` on the test set,
corruptions with `corruptions=True`, the config and the wall time). With
several JAX processes each reads its own shard of the training set, every
process evaluates the whole test set, and process 0 writes these files (the
others write only their scratch copies of the backup and model under
`output_dir/.process_<i>`).

Why here and not a top-level `keras_mimo.training`: the function is the
recipe of one architecture on one dataset (it builds `wide_resnet`, its
`WarmUpStepDecay` schedule and `VirtualBatchNormalization` groups, and feeds
CIFAR batches), so it lives next to them in `applications`; a top-level
name would promise a general trainer for any MIMO model, which `fit` is.
"""

import contextlib
import dataclasses
import importlib.util
import json
import os
import time

import keras

from keras_mimo import evaluation
from keras_mimo._validation import check_count
from keras_mimo._validation import check_float
from keras_mimo.applications.schedules import WarmUpStepDecay
from keras_mimo.applications.wide_resnet import wide_resnet
from keras_mimo.datasets import cifar
from keras_mimo.datasets import cifar_pipeline
from keras_mimo.layers import MixMoSchedule
from keras_mimo.metrics import NegativeLogLikelihood

__all__ = ["TrainConfig", "batch_plan", "load_data", "mixed_precision_policy", "train"]

_CHOICES = {
    "dataset": ("cifar10", "cifar100"),
    "mixing": ("none", "cut", "linear"),
    "corruption_source": ("imagecorruptions", "tfds"),
    "distribution": ("none", "mirrored", "multi_worker", "data_parallel"),
    "pipeline": ("auto", "tf_data", "numpy"),
    "jit_compile": ("auto", True, False),
    "verbose": (0, 1, 2),
}
_POSITIVE = ("depth", "width_multiplier", "ensemble_size", "batch_repetitions", "batch_size", "epochs")
_NON_NEGATIVE = (
    "rows_per_step",
    "crop_padding",
    "virtual_batch_size",
    "seed",
    "corruption_examples",
    "train_examples",
    "test_examples",
    "validation_freq",
)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """What `train` trains and where it writes: the reference CIFAR recipe by default.

    A plain, immutable record (`dataclasses.replace(config, epochs=2)` makes a
    variant); every field is checked when the config is made, and a bad one
    raises a ValueError or TypeError naming it.

    Args:
        dataset: `"cifar10"` or `"cifar100"`.
        data_dir: the TFDS data directory (TFDS downloads there when online).
        npz_dir: a local npz copy (`train_0..4.npz`, `test.npz`); overrides TFDS.
        depth: Wide ResNet depth, 6n+4 (28 reference; 10, 16 or 22 for CPU).
        width_multiplier: Wide ResNet width (10 reference; 1 is ResNet-20 sized).
        ensemble_size: the number of MIMO members M.
        mixing: the members' input mixing: `"none"` (MIMO channel stacking),
            `"cut"` (Cut-MixMo) or `"linear"` (Linear-MixMo).
        input_repetition_probability: rho, the fraction of rows shared by all members.
        batch_repetitions: copies of each unique example per step.
        batch_size: unique examples per step in total (split across replicas).
        rows_per_step: the ablation protocol: fixed rows per step, unique =
            rows / batch_repetitions (0: off, `batch_size` unique examples).
        crop_padding: zero padding (pixels) before the random 32x32 crop.
        virtual_batch_size: rows per batch-norm group in training (0: whole batch).
        epochs: training epochs (the decay epochs scale with it).
        base_learning_rate: the learning rate per 128 unique examples.
        l2: the L2 coefficient (kernels, biases, batch norm).
        warmup_epochs: linear warm-up epochs.
        lr_decay_epochs: the decay epochs, given for 250 epochs.
        lr_decay_ratio: the learning-rate multiplier at each decay epoch.
        seed: the seed of initialization, data order, augmentation and MIMO batching.
        output_dir: logs, backups, model and metrics.json.
        corruptions: also evaluate on corrupted test sets (CIFAR-10-C style).
        corruption_source: corruptions generated offline (`"imagecorruptions"`)
            or the published CIFAR-10-C (`"tfds"`).
        corruption_examples: test examples per corruption (0: all).
        corruption_types: a subset of the corruption types (empty: all 15).
        mixed_precision: `mixed_bfloat16` where the accelerator supports
            bfloat16, `mixed_float16` only on GPUs without it.
        distribution: `"none"`; `"mirrored"` / `"multi_worker"`: TensorFlow
            strategies; `"data_parallel"`: JAX.
        jax_processes: with `distribution="data_parallel"`, first join the
            other JAX processes (`keras.distribution.initialize`); each process
            reads its own shard of the training data, process 0 writes the outputs.
        pipeline: the input pipeline: `"tf_data"`, `"numpy"`, or `"auto"`
            (tf.data when TensorFlow is installed).
        jit_compile: `Model.compile`'s `jit_compile`: `"auto"` (Keras's
            choice: XLA on JAX, eager on torch), True or False.
        train_examples: use only the first N training examples (0: all).
        test_examples: use only the first N test examples (0: all).
        validation_freq: validate every N epochs (0: about 10 times per run).
        verbose: Keras's progress output: 0 silent, 1 bar, 2 one line per epoch.

    Example:

    ```python
    config = TrainConfig(npz_dir="cifar10_npz", depth=10, width_multiplier=2, epochs=2, output_dir="runs/quick")
    metrics = train(config)  # metrics["test"]["accuracy"], ...
    ```
    """

    dataset: str = "cifar10"
    data_dir: str | None = None
    npz_dir: str | None = None
    depth: int = 28
    width_multiplier: int = 10
    ensemble_size: int = 3
    mixing: str = "none"
    input_repetition_probability: float = 0.0
    batch_repetitions: int = 4
    batch_size: int = 128
    rows_per_step: int = 0
    crop_padding: int = 2
    virtual_batch_size: int = 64
    epochs: int = 250
    base_learning_rate: float = 0.1
    l2: float = 3e-4
    warmup_epochs: float = 1.0
    lr_decay_epochs: tuple[float, ...] = (100.0, 200.0, 225.0)
    lr_decay_ratio: float = 0.2
    seed: int = 0
    output_dir: str = "runs/cifar_resnet"
    corruptions: bool = False
    corruption_source: str = "imagecorruptions"
    corruption_examples: int = 0
    corruption_types: tuple[str, ...] = ()
    mixed_precision: bool = False
    distribution: str = "none"
    jax_processes: bool = False
    pipeline: str = "auto"
    jit_compile: str | bool = "auto"
    train_examples: int = 0
    test_examples: int = 0
    validation_freq: int = 0
    verbose: int = 1

    def __post_init__(self):
        for name, choices in _CHOICES.items():
            value = getattr(self, name)
            # 1 == True in Python: a bool must match a bool, an int an int
            if not any(value == c and isinstance(value, bool) == isinstance(c, bool) for c in choices):
                raise ValueError(f"`{name}` must be one of {list(choices)}. Received: {name}={value!r}")
        for name in _POSITIVE:
            object.__setattr__(self, name, check_count(getattr(self, name), name))  # numpy ints as ints
        if (self.depth - 4) % 6:
            raise ValueError(f"`depth` must be 6n + 4 (10, 16, 22, 28, ...). Received: depth={self.depth}")
        for name in _NON_NEGATIVE:
            check_count(getattr(self, name), name, minimum=0)
        check_float(
            self.input_repetition_probability, "input_repetition_probability", low=0.0, high=1.0, low_open=False
        )
        check_float(self.base_learning_rate, "base_learning_rate", low=0.0)
        check_float(self.l2, "l2", low=0.0, low_open=False)
        check_float(self.warmup_epochs, "warmup_epochs", low=0.0, low_open=False)
        check_float(self.lr_decay_ratio, "lr_decay_ratio", low=0.0)
        for name in ("data_dir", "npz_dir"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), (str, os.PathLike)):
                raise TypeError(f"`{name}` must be a path or None. Received: {name}={getattr(self, name)!r}")
        for name in ("lr_decay_epochs", "corruption_types"):
            value = getattr(self, name)
            if isinstance(value, str) or not isinstance(value, (list, tuple)):
                raise TypeError(f"`{name}` must be a list or tuple. Received: {name}={value!r}")
            object.__setattr__(self, name, tuple(value))  # lists from flags become tuples: the record stays frozen
        for epoch in self.lr_decay_epochs:
            check_float(epoch, "lr_decay_epochs", low=0.0, low_open=False)
        for name in ("corruptions", "mixed_precision", "jax_processes"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"`{name}` must be a bool. Received: {name}={getattr(self, name)!r}")


def _check_config(config):
    if not isinstance(config, TrainConfig):
        raise TypeError(
            f"`config` must be a keras_mimo.applications.cifar_training.TrainConfig. Received: config={config!r}"
        )


def _strategy_scope(distribution):
    if distribution == "none":
        return contextlib.nullcontext(), 1
    if distribution == "data_parallel":
        if keras.backend.backend() != "jax":
            raise ValueError("distribution='data_parallel' needs KERAS_BACKEND=jax.")
        # several processes: each feeds its own shard (see `_join_processes`)
        keras.distribution.set_distribution(keras.distribution.DataParallel(auto_shard_dataset=False))
        return contextlib.nullcontext(), len(keras.distribution.list_devices())
    if keras.backend.backend() != "tensorflow":
        raise ValueError(f"distribution={distribution!r} needs KERAS_BACKEND=tensorflow.")
    import tensorflow as tf

    strategy = (
        tf.distribute.MirroredStrategy() if distribution == "mirrored" else tf.distribute.MultiWorkerMirroredStrategy()
    )
    return strategy.scope(), strategy.num_replicas_in_sync


def _join_processes(config: TrainConfig) -> tuple:
    """`(process index, process count)`; joins the JAX processes first with `jax_processes`."""
    if not config.jax_processes:
        return 0, 1
    if config.distribution != "data_parallel" or keras.backend.backend() != "jax":
        raise ValueError("jax_processes=True needs distribution='data_parallel' and KERAS_BACKEND=jax.")
    import jax

    # CPU collectives between processes (no effect on GPU/TPU collectives);
    # nothing may touch JAX's devices before initialize()
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    keras.distribution.initialize()
    return jax.process_index(), jax.process_count()


def batch_plan(config: TrainConfig, replicas: int) -> dict:
    """Unique examples per step (global and per replica), rows and learning rate.

    As the reference: the global unique batch is split across replicas, and
    the learning rate is `base_learning_rate * unique / 128`, whatever the
    number of replicas. With `rows_per_step` (the reference's ablation of
    batch repetitions) the rows per step stay fixed and
    `unique = rows_per_step // batch_repetitions`.

    Args:
        config: the training config.
        replicas: the number of data-parallel replicas (devices).

    Returns:
        `{"unique_batch", "per_replica", "rows_per_step", "learning_rate"}`.

    Raises:
        ValueError: the unique batch does not split evenly across `replicas`.
    """
    _check_config(config)
    replicas = check_count(replicas, "replicas")
    repetitions = config.batch_repetitions
    unique = config.rows_per_step // repetitions if config.rows_per_step else config.batch_size
    if unique < 1 or unique % replicas:
        source = (
            f"rows_per_step={config.rows_per_step} // batch_repetitions={repetitions}"
            if config.rows_per_step
            else f"batch_size={config.batch_size}"
        )
        raise ValueError(
            f"The unique batch per step must be a positive multiple of the {replicas} replicas: change "
            f"batch_size (or rows_per_step). Received: {source} = {unique}"
        )
    return {
        "unique_batch": unique,
        "per_replica": unique // replicas,
        "rows_per_step": unique * repetitions,
        "learning_rate": config.base_learning_rate * unique / 128.0,
    }


def _gpu_compute_capability():
    """`(major, minor)` of the first GPU, or None without one (any backend)."""
    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            gpus = [d for d in jax.devices() if d.platform == "gpu"]
            return tuple(int(v) for v in gpus[0].compute_capability.split(".")) if gpus else None
        if backend == "torch":
            import torch

            return torch.cuda.get_device_capability(0) if torch.cuda.is_available() else None
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return tf.config.experimental.get_device_details(gpus[0]).get("compute_capability") if gpus else None
    except (AttributeError, IndexError, RuntimeError, ValueError):
        return None


def mixed_precision_policy(capability: tuple[int, int] | None | str = "auto") -> str:
    """`"mixed_bfloat16"` unless a GPU lacks bfloat16 (compute capability < 8.0): then `"mixed_float16"`.

    bfloat16 has float32's range, so it needs no loss scaling; float16 is
    used only on older GPUs (V100, T4), with Keras's loss scaling. CPUs and
    TPUs use bfloat16.

    Args:
        capability: the GPU's `(major, minor)` compute capability, None
            without a GPU, or `"auto"` to ask the backend about the first GPU.
    """
    if capability == "auto":
        capability = _gpu_compute_capability()
    elif capability is not None and (not isinstance(capability, (tuple, list)) or len(capability) != 2):
        raise ValueError(
            f"`capability` must be 'auto', None or a (major, minor) pair. Received: capability={capability!r}"
        )
    if capability is not None and tuple(capability) < (8, 0):
        return "mixed_float16"
    return "mixed_bfloat16"


def _callbacks(out, verbose, tensorboard=True):
    class ValidationNotice(keras.callbacks.Callback):
        """Says when validation starts: Keras's progress bar is silent meanwhile."""

        def on_test_begin(self, logs=None):
            print(
                "  validating on the test set (the val_ metrics are test-set metrics, as in the reference) ...",
                flush=True,
            )

    callbacks = [keras.callbacks.BackupAndRestore(os.path.join(out, "backup"))]
    if verbose:
        callbacks.append(ValidationNotice())
    # Keras writes TensorBoard summaries through TensorFlow + tensorboard.
    if not tensorboard:
        pass
    elif cifar_pipeline.tf_available() and importlib.util.find_spec("tensorboard"):
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(out, "tb")))
    else:
        print("TensorBoard logs off: install tensorflow and tensorboard to write them.")
    return callbacks


def load_data(config: TrainConfig) -> tuple:
    """The config's dataset, cut to `train_examples` / `test_examples`.

    From `npz_dir` when set, else through TFDS (`data_dir`).

    Returns:
        `(x_train, y_train, x_test, y_test)`: uint8 images `(N, 32, 32, 3)`, int32 labels `(N,)`.

    Raises:
        keras_mimo.datasets.DataUnavailableError: no usable data source.
    """
    _check_config(config)
    if config.npz_dir:
        data = cifar.load_npz(config.npz_dir, cifar.NUM_CLASSES[config.dataset])
    else:
        data = cifar.load_tfds(config.dataset, config.data_dir)
    x_train, y_train, x_test, y_test = data
    if config.train_examples:
        x_train, y_train = x_train[: config.train_examples], y_train[: config.train_examples]
    if config.test_examples:
        x_test, y_test = x_test[: config.test_examples], y_test[: config.test_examples]
    return x_train, y_train, x_test, y_test


def train(
    config: TrainConfig,
    extra_callbacks: tuple | list = (),
    data: tuple | None = None,
    num_classes: int | None = None,
) -> dict:
    """Trains a MIMO Wide ResNet with the recipe `config` describes, evaluates it, writes its outputs.

    Args:
        config: the recipe and where to write (see `TrainConfig`).
        extra_callbacks: Keras callbacks added to `fit` (the benchmarks
            record learning curves with them).
        data: `(x_train, y_train, x_test, y_test)`: uint8 images
            `(N, 32, 32, 3)` and integer labels `(N,)` that replace the
            dataset `config` names (the shift/OOD study trains on a subset of
            CIFAR-10's classes); None loads it (`load_data`).
        num_classes: the classes of `data` (default: the config's dataset's).

    Returns:
        The metrics written to `output_dir/metrics.json`: `"test"`
        (`evaluate_ensemble` of the final model on the test set),
        `"corrupted"` (with `corruptions=True`), `"flags"` (the config as a
        dict), the batch plan, the parameter count and the wall times.
    """
    _check_config(config)
    if data is not None and (not isinstance(data, (tuple, list)) or len(data) != 4):
        raise ValueError(
            f"`data` must be (x_train, y_train, x_test, y_test) or None. Received: data of type {type(data).__name__}"
        )
    if num_classes is not None:
        num_classes = check_count(num_classes, "num_classes", minimum=2)

    start = time.time()
    process, processes = _join_processes(config)
    keras.utils.set_random_seed(config.seed)
    if config.mixed_precision:
        keras.mixed_precision.set_global_policy(mixed_precision_policy())
    x_train, y_train, x_test, y_test = data if data is not None else load_data(config)
    num_classes = num_classes or cifar.NUM_CLASSES[config.dataset]
    scope, replicas = _strategy_scope(config.distribution)
    plan = batch_plan(config, replicas)
    unique_batch = plan["unique_batch"]
    steps_per_epoch = len(x_train) // unique_batch
    if steps_per_epoch < 1:
        raise ValueError(f"{len(x_train)} training examples < one batch of {unique_batch}.")

    pipeline = config.pipeline
    if pipeline == "auto":
        pipeline = "tf_data" if cifar_pipeline.tf_available() else "numpy"
    make = cifar_pipeline.tf_train_dataset if pipeline == "tf_data" else cifar_pipeline.numpy_train_dataset
    # several processes: process p feeds examples p, p + P, ... in batches of unique / P
    batches = make(
        x_train[process::processes],
        y_train[process::processes],
        unique_batch // processes,
        config.seed,
        crop_padding=config.crop_padding,
    )

    scale = config.epochs / 250.0
    schedule = WarmUpStepDecay(
        plan["learning_rate"],
        warmup_steps=int(config.warmup_epochs * steps_per_epoch),
        decay_steps=[int(float(e) * scale * steps_per_epoch) for e in config.lr_decay_epochs],
        decay_ratio=config.lr_decay_ratio,
    )
    with scope:
        model = wide_resnet(
            depth=config.depth,
            width_multiplier=config.width_multiplier,
            num_classes=num_classes,
            ensemble_size=config.ensemble_size,
            l2=config.l2,
            input_repetition_probability=config.input_repetition_probability,
            batch_repetitions=config.batch_repetitions,
            seed=config.seed,
            virtual_batch_size=config.virtual_batch_size or None,
            head_activation=None,
            mixing=None if config.mixing == "none" else config.mixing,
        )
        model.compile(
            optimizer=keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy", NegativeLogLikelihood(from_logits=True)],
            jit_compile=config.jit_compile,
        )
    # process 0 writes the outputs; the others take part in the collective
    # steps of saving into a scratch folder (every process must call save)
    out = config.output_dir if process == 0 else os.path.join(config.output_dir, f".process_{process}")
    os.makedirs(out, exist_ok=True)
    x_test_input = cifar.normalize(x_test)
    model.fit(
        batches,
        epochs=config.epochs,
        steps_per_epoch=steps_per_epoch,
        validation_data=(x_test_input, y_test),
        validation_freq=config.validation_freq or max(1, config.epochs // 10),
        callbacks=_callbacks(out, config.verbose, tensorboard=process == 0)
        + ([MixMoSchedule(config.epochs)] if config.mixing != "none" else [])
        + list(extra_callbacks),
        verbose=config.verbose,
        shuffle=False,  # the input pipeline shuffles (Keras ignores shuffle=True on datasets, with a warning)
    )
    train_seconds = time.time() - start
    model.save(os.path.join(out, "model.keras"))
    metrics = {"test": evaluation.evaluate_ensemble(model, x_test_input, y_test, verbose=config.verbose)}
    if config.corruptions:
        images, labels = x_test, y_test
        if config.corruption_examples:
            images, labels = images[: config.corruption_examples], labels[: config.corruption_examples]
        metrics["corrupted"] = evaluation.evaluate_corruptions(
            model,
            images,
            labels,
            corruptions=config.corruption_types or evaluation.CORRUPTIONS,
            seed=config.seed,
            preprocess=cifar.normalize,
            source=config.corruption_source,
            data_dir=config.data_dir,
            verbose=config.verbose,
        )
    metrics.update(
        note="`test` is the final model on the test set; the per-epoch val_ metrics of the log and "
        "TensorBoard are test-set metrics too (the reference recipe validates on the test set).",
        flags=dataclasses.asdict(config),
        backend=keras.backend.backend(),
        pipeline=pipeline,
        parameters=int(model.count_params()),
        train_seconds=train_seconds,
        total_seconds=time.time() - start,
        rows_per_step=plan["rows_per_step"],
        unique_batch=unique_batch,
        per_replica_batch=plan["per_replica"],
        replicas=replicas,
        learning_rate=plan["learning_rate"],
        mixed_precision_policy=keras.config.dtype_policy().name,
        jit_compile=bool(model.jit_compile),
        processes=processes,
    )
    if process == 0:
        with open(os.path.join(out, "metrics.json"), "w") as f:
            json.dump(metrics, f, indent=2, default=str)
    return metrics
