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

The flags are the fields of `keras_mimo.applications.cifar_training.TrainConfig`
(same names, same defaults); the script builds one and calls
`cifar_training.train`, which documents the batch size, repetitions and
learning rate (--batch_size unique examples per step in total, the learning
rate following them, --rows_per_step for the reference's ablation protocol).

Writes to --output_dir: TensorBoard logs (tb/), a resumable backup (backup/:
rerun the same command after a crash to continue), model.keras and
metrics.json (evaluate_ensemble on the test set, corruptions with
--corruptions, the flags and the wall time). With several JAX processes
each reads its own shard of the training set, every process evaluates the
whole test set, and process 0 writes these files (the others write only
their scratch copies of the backup and model under output_dir/.process_<i>).
"""

import dataclasses
import sys

from absl import app
from absl import flags

from keras_mimo.applications import cifar_training
from keras_mimo.datasets import DataUnavailableError

FLAGS = flags.FLAGS
DEFAULTS = cifar_training.TrainConfig()  # the flags' defaults: the reference recipe
flags.DEFINE_enum("dataset", DEFAULTS.dataset, ["cifar10", "cifar100"], "Dataset.")
flags.DEFINE_string("data_dir", DEFAULTS.data_dir, "TFDS data directory (TFDS downloads there when online).")
flags.DEFINE_string(
    "npz_dir", DEFAULTS.npz_dir, "Local CIFAR-10/100 npz copy (train_0..4.npz, test.npz); overrides TFDS."
)
flags.DEFINE_integer("depth", DEFAULTS.depth, "Wide ResNet depth, 6n+4 (28 reference; 16 or 22 for CPU).")
flags.DEFINE_integer(
    "width_multiplier", DEFAULTS.width_multiplier, "Wide ResNet width (10 reference; 1 is ResNet-20 sized)."
)
flags.DEFINE_integer("ensemble_size", DEFAULTS.ensemble_size, "Number of MIMO members M.")
flags.DEFINE_enum(
    "mixing",
    DEFAULTS.mixing,
    ["none", "cut", "linear"],
    "Members' input mixing: none (MIMO channel stacking), cut (Cut-MixMo) or linear (Linear-MixMo).",
)
flags.DEFINE_float(
    "input_repetition_probability",
    DEFAULTS.input_repetition_probability,
    "rho: fraction of rows shared by all members.",
)
flags.DEFINE_integer("batch_repetitions", DEFAULTS.batch_repetitions, "Copies of each unique example per step.")
flags.DEFINE_integer("batch_size", DEFAULTS.batch_size, "Unique examples per step in total (split across replicas).")
flags.DEFINE_integer(
    "rows_per_step",
    DEFAULTS.rows_per_step,
    "Ablation protocol: fixed rows per step, unique = rows / batch_repetitions (0: off, --batch_size unique examples).",
)
flags.DEFINE_integer("crop_padding", DEFAULTS.crop_padding, "Zero padding (pixels) before the random 32x32 crop.")
flags.DEFINE_integer(
    "virtual_batch_size", DEFAULTS.virtual_batch_size, "Rows per batch-norm group in training (0: whole batch)."
)
flags.DEFINE_integer("epochs", DEFAULTS.epochs, "Training epochs (the decay epochs scale with it).")
flags.DEFINE_float("base_learning_rate", DEFAULTS.base_learning_rate, "Learning rate per 128 unique examples.")
flags.DEFINE_float("l2", DEFAULTS.l2, "L2 coefficient (kernels, biases, batch norm).")
flags.DEFINE_float("warmup_epochs", DEFAULTS.warmup_epochs, "Linear warm-up epochs.")
flags.DEFINE_list(
    "lr_decay_epochs", [f"{e:g}" for e in DEFAULTS.lr_decay_epochs], "Decay epochs, given for 250 epochs."
)
flags.DEFINE_float("lr_decay_ratio", DEFAULTS.lr_decay_ratio, "Learning-rate multiplier at each decay epoch.")
flags.DEFINE_integer("seed", DEFAULTS.seed, "Seed of initialization, data order, augmentation and MIMO batching.")
flags.DEFINE_string("output_dir", DEFAULTS.output_dir, "Logs, backups, model and metrics.json.")
flags.DEFINE_bool("corruptions", DEFAULTS.corruptions, "Also evaluate on corrupted test sets (CIFAR-10-C style).")
flags.DEFINE_enum(
    "corruption_source",
    DEFAULTS.corruption_source,
    ["imagecorruptions", "tfds"],
    "Corruptions generated offline (imagecorruptions) or the published CIFAR-10-C (tfds).",
)
flags.DEFINE_integer("corruption_examples", DEFAULTS.corruption_examples, "Test examples per corruption (0: all).")
flags.DEFINE_list("corruption_types", list(DEFAULTS.corruption_types), "Subset of corruption types (empty: all 15).")
flags.DEFINE_bool(
    "mixed_precision",
    DEFAULTS.mixed_precision,
    "mixed_bfloat16 where the accelerator supports bfloat16 (no loss scaling), mixed_float16 only on GPUs without it.",
)
flags.DEFINE_enum(
    "distribution",
    DEFAULTS.distribution,
    ["none", "mirrored", "multi_worker", "data_parallel"],
    "mirrored / multi_worker: TensorFlow strategies; data_parallel: JAX.",
)
flags.DEFINE_bool(
    "jax_processes",
    DEFAULTS.jax_processes,
    "With --distribution=data_parallel: first join the other JAX processes "
    "(keras.distribution.initialize: KERAS_DISTRIBUTION_JOB_ADDRESSES / _NUM_PROCESSES / _PROCESS_ID, "
    "or Slurm/Open MPI/Kubernetes detection). Each process reads its own shard of the training "
    "data; process 0 writes the outputs.",
)
flags.DEFINE_enum(
    "pipeline",
    DEFAULTS.pipeline,
    ["auto", "tf_data", "numpy"],
    "Input pipeline: tf.data when TensorFlow is installed, else numpy.",
)
flags.DEFINE_integer(
    "train_examples", DEFAULTS.train_examples, "Use only the first N training examples (0: all). For smoke tests."
)
flags.DEFINE_integer("test_examples", DEFAULTS.test_examples, "Use only the first N test examples (0: all).")
flags.DEFINE_integer(
    "validation_freq", DEFAULTS.validation_freq, "Validate every N epochs (0: about 10 times per run)."
)
flags.DEFINE_integer("verbose", DEFAULTS.verbose, "Keras progress bar: 0 silent, 1 bar, 2 one line per epoch.")
flags.DEFINE_enum(
    "jit_compile",
    str(DEFAULTS.jit_compile).lower(),
    ["auto", "true", "false"],
    "Model.compile's jit_compile. auto: Keras's choice (XLA on JAX, eager on torch); "
    "true on torch: torch.compile (compiles for minutes at the first step; see docs/backends.md).",
)


def config_from_flags() -> cifar_training.TrainConfig:
    """The parsed flags as the library's config (every flag is a field of the same name)."""
    names = [field.name for field in dataclasses.fields(cifar_training.TrainConfig)]
    values = {name: getattr(FLAGS, name) for name in names}
    values["lr_decay_epochs"] = tuple(float(e) for e in FLAGS.lr_decay_epochs)
    values["jit_compile"] = {"auto": "auto", "true": True, "false": False}[FLAGS.jit_compile]
    return cifar_training.TrainConfig(**values)


def main(argv):
    del argv
    try:
        metrics = cifar_training.train(config_from_flags())
    except DataUnavailableError as e:
        sys.exit(f"error: {e}")
    test = metrics["test"]
    print(
        f"test accuracy {test['accuracy']:.4f}  NLL {test['nll']:.4f}  ECE {test['ece']:.4f}  "
        f"members {['%.3f' % a for a in test['member_accuracy']]}  -> {FLAGS.output_dir}/metrics.json"
    )


if __name__ == "__main__":
    app.run(main)
