r"""Trains a MIMO Wide ResNet on CIFAR-10/100, as in Havasi et al. (ICLR 2021).

Defaults are the reference CIFAR recipe (uncertainty-baselines
`baselines/cifar/mimo.py`): WRN-28-10, ensemble_size 3,
input_repetition_probability 0, batch_repetitions 4, 128 unique examples
per step in total (512 rows), SGD with Nesterov momentum 0.9, learning rate
0.1 * 128 / 128 with a 1-epoch linear warm-up and x0.2 decays at epochs
100, 200, 225 of 250 (the decay epochs scale with --epochs), l2 3e-4,
random 32x32 crop after 2 pixels of zero padding + flip applied per example
before the MIMO batching, batch-norm statistics per group of 64 rows (the
reference's unsynchronized batch norm on 8 cores), a logits head trained
with `from_logits=True`.

    # the reference recipe (GPU)
    python examples/cifar_resnet.py --data_dir ~/tensorflow_datasets --output_dir runs/wrn28-10
    # a CPU-sized run on a local copy of CIFAR-10
    python examples/cifar_resnet.py --npz_dir path/to/cifar10_npz --depth 16 \
        --width_multiplier 1 --epochs 3 --output_dir runs/cpu
    # several GPUs of one host (JAX): data-parallel
    KERAS_BACKEND=jax python examples/cifar_resnet.py --distribution data_parallel --output_dir runs/dp
    # several hosts (JAX processes): the same command on every host, i = 0 .. P-1
    KERAS_BACKEND=jax KERAS_DISTRIBUTION_JOB_ADDRESSES=host0:1234 KERAS_DISTRIBUTION_NUM_PROCESSES=2 \
        KERAS_DISTRIBUTION_PROCESS_ID=$i python examples/cifar_resnet.py --distribution data_parallel \
        --jax_processes --output_dir runs/dp   # under Slurm: srun, without the variables

Batch size, repetitions and learning rate: each step takes --batch_size
unique examples in total, split across replicas, and trains every member on
batch_repetitions times as many rows. The learning rate follows the global
number of UNIQUE examples per step (base_lr * unique / 128), not the rows,
as in the reference. --rows_per_step selects the reference's
batch-repetition ablation protocol instead: a fixed number of rows per step,
unique = rows_per_step / batch_repetitions.

Writes to --output_dir: TensorBoard logs (tb/), a resumable backup (backup/:
rerun the same command after a crash to continue), model.keras and
metrics.json (evaluate_ensemble on the test set, corruptions with
--corruptions, the flags and the wall time). With several JAX processes
each reads its own shard of the training set, every process evaluates the
whole test set, and process 0 writes these files (the others write only
their scratch copies of the backup and model under output_dir/.process_<i>).
"""

import json
import os
import sys
import time

from absl import app
from absl import flags

from keras_mimo.applications import cifar_data

FLAGS = flags.FLAGS
flags.DEFINE_enum("dataset", "cifar10", ["cifar10", "cifar100"], "Dataset.")
flags.DEFINE_string("data_dir", None, "TFDS data directory (TFDS downloads there when online).")
flags.DEFINE_string("npz_dir", None, "Local CIFAR-10/100 npz copy (train_0..4.npz, test.npz); overrides TFDS.")
flags.DEFINE_integer("depth", 28, "Wide ResNet depth, 6n+4 (28 reference; 16 or 22 for CPU).")
flags.DEFINE_integer("width_multiplier", 10, "Wide ResNet width (10 reference; 1 is ResNet-20 sized).")
flags.DEFINE_integer("ensemble_size", 3, "Number of MIMO members M.")
flags.DEFINE_enum(
    "mixing",
    "none",
    ["none", "cut", "linear"],
    "Members' input mixing: none (MIMO channel stacking), cut (Cut-MixMo) or linear (Linear-MixMo).",
)
flags.DEFINE_float("input_repetition_probability", 0.0, "rho: fraction of rows shared by all members.")
flags.DEFINE_integer("batch_repetitions", 4, "Copies of each unique example per step.")
flags.DEFINE_integer("batch_size", 128, "Unique examples per step in total (split across replicas).")
flags.DEFINE_integer(
    "rows_per_step",
    0,
    "Ablation protocol: fixed rows per step, unique = rows / batch_repetitions (0: off, --batch_size unique examples).",
)
flags.DEFINE_integer("crop_padding", 2, "Zero padding (pixels) before the random 32x32 crop.")
flags.DEFINE_integer("virtual_batch_size", 64, "Rows per batch-norm group in training (0: whole batch).")
flags.DEFINE_integer("epochs", 250, "Training epochs (the decay epochs scale with it).")
flags.DEFINE_float("base_learning_rate", 0.1, "Learning rate per 128 unique examples.")
flags.DEFINE_float("l2", 3e-4, "L2 coefficient (kernels, biases, batch norm).")
flags.DEFINE_float("warmup_epochs", 1.0, "Linear warm-up epochs.")
flags.DEFINE_list("lr_decay_epochs", ["100", "200", "225"], "Decay epochs, given for 250 epochs.")
flags.DEFINE_float("lr_decay_ratio", 0.2, "Learning-rate multiplier at each decay epoch.")
flags.DEFINE_integer("seed", 0, "Seed of initialization, data order, augmentation and MIMO batching.")
flags.DEFINE_string("output_dir", "runs/cifar_resnet", "Logs, backups, model and metrics.json.")
flags.DEFINE_bool("corruptions", False, "Also evaluate on corrupted test sets (CIFAR-10-C style).")
flags.DEFINE_enum(
    "corruption_source",
    "imagecorruptions",
    ["imagecorruptions", "tfds"],
    "Corruptions generated offline (imagecorruptions) or the published CIFAR-10-C (tfds).",
)
flags.DEFINE_integer("corruption_examples", 0, "Test examples per corruption (0: all).")
flags.DEFINE_list("corruption_types", [], "Subset of corruption types (empty: all 15).")
flags.DEFINE_bool(
    "mixed_precision",
    False,
    "mixed_bfloat16 where the accelerator supports bfloat16 (no loss scaling), mixed_float16 only on GPUs without it.",
)
flags.DEFINE_enum(
    "distribution",
    "none",
    ["none", "mirrored", "multi_worker", "data_parallel"],
    "mirrored / multi_worker: TensorFlow strategies; data_parallel: JAX.",
)
flags.DEFINE_bool(
    "jax_processes",
    False,
    "With --distribution=data_parallel: first join the other JAX processes "
    "(keras.distribution.initialize: KERAS_DISTRIBUTION_JOB_ADDRESSES / _NUM_PROCESSES / _PROCESS_ID, "
    "or Slurm/Open MPI/Kubernetes detection). Each process reads its own shard of the training "
    "data; process 0 writes the outputs.",
)
flags.DEFINE_enum(
    "pipeline",
    "auto",
    ["auto", "tf_data", "numpy"],
    "Input pipeline: tf.data when TensorFlow is installed, else numpy.",
)
flags.DEFINE_integer("train_examples", 0, "Use only the first N training examples (0: all). For smoke tests.")
flags.DEFINE_integer("test_examples", 0, "Use only the first N test examples (0: all).")
flags.DEFINE_integer("validation_freq", 0, "Validate every N epochs (0: about 10 times per run).")
flags.DEFINE_integer("verbose", 1, "Keras progress bar: 0 silent, 1 bar, 2 one line per epoch.")
flags.DEFINE_enum(
    "jit_compile",
    "auto",
    ["auto", "true", "false"],
    "Model.compile's jit_compile. auto: Keras's choice (XLA on JAX, eager on torch); "
    "true on torch: torch.compile (compiles for minutes at the first step; see docs/backends.md).",
)


def _strategy_scope(distribution):
    import contextlib

    import keras

    if distribution == "none":
        return contextlib.nullcontext(), 1
    if distribution == "data_parallel":
        if keras.backend.backend() != "jax":
            raise ValueError("--distribution=data_parallel needs KERAS_BACKEND=jax.")
        # several processes: each feeds its own shard (see `process_shard`)
        keras.distribution.set_distribution(keras.distribution.DataParallel(auto_shard_dataset=False))
        return contextlib.nullcontext(), len(keras.distribution.list_devices())
    if keras.backend.backend() != "tensorflow":
        raise ValueError(f"--distribution={distribution} needs KERAS_BACKEND=tensorflow.")
    import tensorflow as tf

    strategy = (
        tf.distribute.MirroredStrategy() if distribution == "mirrored" else tf.distribute.MultiWorkerMirroredStrategy()
    )
    return strategy.scope(), strategy.num_replicas_in_sync


def join_processes(config: dict) -> tuple:
    """`(process index, process count)`; joins the JAX processes first with --jax_processes."""
    if not config.get("jax_processes"):
        return 0, 1
    import keras

    if config["distribution"] != "data_parallel" or keras.backend.backend() != "jax":
        raise ValueError("--jax_processes needs --distribution=data_parallel and KERAS_BACKEND=jax.")
    import jax

    # CPU collectives between processes (no effect on GPU/TPU collectives);
    # nothing may touch JAX's devices before initialize()
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    keras.distribution.initialize()
    return jax.process_index(), jax.process_count()


def batch_plan(config: dict, replicas: int) -> dict:
    """Unique examples per step (global and per replica), rows and learning rate.

    As the reference: the global unique batch is split across replicas, and
    the learning rate is `base_learning_rate * unique / 128`, whatever the
    number of replicas. With `rows_per_step` (the reference's ablation of
    batch repetitions) the rows per step stay fixed and
    `unique = rows_per_step // batch_repetitions`.
    """
    repetitions = config["batch_repetitions"]
    unique = config["rows_per_step"] // repetitions if config["rows_per_step"] else config["batch_size"]
    if unique < 1 or unique % replicas:
        raise ValueError(
            f"The unique batch ({unique}) must be a positive multiple of the {replicas} "
            "replicas: change --batch_size (or --rows_per_step)."
        )
    return {
        "unique_batch": unique,
        "per_replica": unique // replicas,
        "rows_per_step": unique * repetitions,
        "learning_rate": config["base_learning_rate"] * unique / 128.0,
    }


def gpu_compute_capability():
    """`(major, minor)` of the first GPU, or None without one (any backend)."""
    import keras

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


def mixed_precision_policy(capability="auto") -> str:
    """mixed_bfloat16 unless a GPU lacks bfloat16 (compute capability < 8.0).

    bfloat16 has float32's range, so it needs no loss scaling; float16 is
    used only on older GPUs (V100, T4), with Keras's loss scaling. CPUs and
    TPUs use bfloat16.
    """
    if capability == "auto":
        capability = gpu_compute_capability()
    if capability is not None and tuple(capability) < (8, 0):
        return "mixed_float16"
    return "mixed_bfloat16"


def _callbacks(out, verbose, tensorboard=True):
    import importlib.util

    import keras

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
    elif cifar_data.tf_available() and importlib.util.find_spec("tensorboard"):
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(out, "tb")))
    else:
        print("TensorBoard logs off: install tensorflow and tensorboard to write them.")
    return callbacks


def load_data(config):
    if config["npz_dir"]:
        data = cifar_data.load_npz(config["npz_dir"], cifar_data.NUM_CLASSES[config["dataset"]])
    else:
        data = cifar_data.load_tfds(config["dataset"], config["data_dir"])
    x_train, y_train, x_test, y_test = data
    if config["train_examples"]:
        x_train, y_train = x_train[: config["train_examples"]], y_train[: config["train_examples"]]
    if config["test_examples"]:
        x_test, y_test = x_test[: config["test_examples"]], y_test[: config["test_examples"]]
    return x_train, y_train, x_test, y_test


def run(config: dict, extra_callbacks=(), data=None, num_classes: int | None = None) -> dict:
    """Trains and evaluates; returns (and writes) the metrics dictionary.

    `config` holds the flags by name (see `config_from_flags`);
    `extra_callbacks` are added to `fit` (the benchmarks record learning
    curves with them). `data` = `(x_train, y_train, x_test, y_test)` uint8
    arrays replaces the dataset the flags name, with `num_classes` classes
    (the shift/OOD study trains on a subset of CIFAR-10's classes).
    """
    import keras

    import keras_mimo

    start = time.time()
    process, processes = join_processes(config)
    keras.utils.set_random_seed(config["seed"])
    if config["mixed_precision"]:
        keras.mixed_precision.set_global_policy(mixed_precision_policy())
    x_train, y_train, x_test, y_test = data if data is not None else load_data(config)
    num_classes = num_classes or cifar_data.NUM_CLASSES[config["dataset"]]
    scope, replicas = _strategy_scope(config["distribution"])
    plan = batch_plan(config, replicas)
    unique_batch = plan["unique_batch"]
    steps_per_epoch = len(x_train) // unique_batch
    if steps_per_epoch < 1:
        raise ValueError(f"{len(x_train)} training examples < one batch of {unique_batch}.")

    pipeline = config["pipeline"]
    if pipeline == "auto":
        pipeline = "tf_data" if cifar_data.tf_available() else "numpy"
    make = cifar_data.tf_train_dataset if pipeline == "tf_data" else cifar_data.numpy_train_dataset
    # several processes: process p feeds examples p, p + P, ... in batches of unique / P
    train = make(
        x_train[process::processes],
        y_train[process::processes],
        unique_batch // processes,
        config["seed"],
        crop_padding=config["crop_padding"],
    )

    scale = config["epochs"] / 250.0
    schedule = keras_mimo.applications.WarmUpStepDecay(
        plan["learning_rate"],
        warmup_steps=int(config["warmup_epochs"] * steps_per_epoch),
        decay_steps=[int(float(e) * scale * steps_per_epoch) for e in config["lr_decay_epochs"]],
        decay_ratio=config["lr_decay_ratio"],
    )
    with scope:
        model = keras_mimo.applications.wide_resnet(
            depth=config["depth"],
            width_multiplier=config["width_multiplier"],
            num_classes=num_classes,
            ensemble_size=config["ensemble_size"],
            l2=config["l2"],
            input_repetition_probability=config["input_repetition_probability"],
            batch_repetitions=config["batch_repetitions"],
            seed=config["seed"],
            virtual_batch_size=config["virtual_batch_size"] or None,
            head_activation=None,
            mixing=None if config.get("mixing", "none") == "none" else config["mixing"],
        )
        model.compile(
            optimizer=keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy", keras_mimo.metrics.NegativeLogLikelihood(from_logits=True)],
            jit_compile={"auto": "auto", "true": True, "false": False}[config.get("jit_compile", "auto")],
        )
    # process 0 writes the outputs; the others take part in the collective
    # steps of saving into a scratch folder (every process must call save)
    out = config["output_dir"] if process == 0 else os.path.join(config["output_dir"], f".process_{process}")
    os.makedirs(out, exist_ok=True)
    x_test_input = cifar_data.normalize(x_test)
    model.fit(
        train,
        epochs=config["epochs"],
        steps_per_epoch=steps_per_epoch,
        validation_data=(x_test_input, y_test),
        validation_freq=config["validation_freq"] or max(1, config["epochs"] // 10),
        callbacks=_callbacks(out, config["verbose"], tensorboard=process == 0)
        + ([keras_mimo.MixMoSchedule(config["epochs"])] if config.get("mixing", "none") != "none" else [])
        + list(extra_callbacks),
        verbose=config["verbose"],
        shuffle=False,  # the input pipeline shuffles (Keras ignores shuffle=True on datasets, with a warning)
    )
    train_seconds = time.time() - start
    model.save(os.path.join(out, "model.keras"))
    metrics = {"test": keras_mimo.evaluate_ensemble(model, x_test_input, y_test, verbose=config["verbose"])}
    if config["corruptions"]:
        images, labels = x_test, y_test
        if config["corruption_examples"]:
            images, labels = images[: config["corruption_examples"]], labels[: config["corruption_examples"]]
        metrics["corrupted"] = keras_mimo.evaluation.evaluate_corruptions(
            model,
            images,
            labels,
            corruptions=tuple(config["corruption_types"]) or keras_mimo.evaluation.CORRUPTIONS,
            seed=config["seed"],
            preprocess=cifar_data.normalize,
            source=config["corruption_source"],
            data_dir=config["data_dir"],
            verbose=config["verbose"],
        )
    metrics.update(
        note="`test` is the final model on the test set; the per-epoch val_ metrics of the log and "
        "TensorBoard are test-set metrics too (the reference recipe validates on the test set).",
        flags=config,
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


def config_from_flags() -> dict:
    names = [
        "dataset",
        "data_dir",
        "npz_dir",
        "depth",
        "width_multiplier",
        "ensemble_size",
        "mixing",
        "input_repetition_probability",
        "batch_repetitions",
        "batch_size",
        "rows_per_step",
        "crop_padding",
        "virtual_batch_size",
        "epochs",
        "base_learning_rate",
        "l2",
        "warmup_epochs",
        "lr_decay_epochs",
        "lr_decay_ratio",
        "seed",
        "output_dir",
        "corruptions",
        "corruption_source",
        "corruption_examples",
        "corruption_types",
        "mixed_precision",
        "distribution",
        "jax_processes",
        "pipeline",
        "jit_compile",
        "train_examples",
        "test_examples",
        "validation_freq",
        "verbose",
    ]
    return {name: getattr(FLAGS, name) for name in names}


def main(argv):
    del argv
    try:
        metrics = run(config_from_flags())
    except cifar_data.DataUnavailableError as e:
        sys.exit(f"error: {e}")
    test = metrics["test"]
    print(
        f"test accuracy {test['accuracy']:.4f}  NLL {test['nll']:.4f}  ECE {test['ece']:.4f}  "
        f"members {['%.3f' % a for a in test['member_accuracy']]}  -> {FLAGS.output_dir}/metrics.json"
    )


if __name__ == "__main__":
    app.run(main)
