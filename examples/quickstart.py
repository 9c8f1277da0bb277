r"""Quickstart: turn a small existing Keras CNN into a MIMO ensemble, two lines.

Trains the same CNN twice on CIFAR-10, once as it is and once with
`MIMOInput` / `MIMOHead` added, and prints their test metrics side by side.
CIFAR-10 comes from TFDS (downloaded once into --data_dir), or from a local
npz copy with --npz_dir:

    python examples/quickstart.py
    python examples/quickstart.py --npz_dir path/to/cifar10_npz
"""

import sys
import time

from absl import app
from absl import flags

from keras_mimo.datasets import cifar
from keras_mimo.datasets import cifar_pipeline
from keras_mimo.datasets import tfds_loading

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "TFDS data directory (CIFAR-10 is downloaded there once).")
flags.DEFINE_string("npz_dir", None, "Local CIFAR-10 npz copy (train_0..4.npz, test.npz) instead of TFDS.")
flags.DEFINE_integer("train_examples", 10000, "Training examples used (0: all 50000).")
flags.DEFINE_integer("test_examples", 5000, "Test examples used (0: all 10000).")
flags.DEFINE_integer("epochs", 4, "Epochs for both models.")
flags.DEFINE_integer("width", 32, "Filters of the first convolution.")
flags.DEFINE_integer("ensemble_size", 2, "MIMO members.")
flags.DEFINE_integer("batch_repetitions", 2, "MIMO batch repetitions.")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_integer("verbose", 1, "Keras progress: 1 a progress bar, 2 one line per epoch.")


def cnn(width, ensemble_size=None):
    """The user's existing CNN; `ensemble_size` adds the two MIMO lines."""
    import keras

    import keras_mimo

    inputs = keras.Input((32, 32, 3))
    x = inputs
    if ensemble_size:
        x = keras_mimo.MIMOInput(ensemble_size)(x)  # added line 1
    for filters in (width, 2 * width, 4 * width):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    if ensemble_size:
        outputs = keras_mimo.MIMOHead(10, ensemble_size, activation="softmax")(x)  # added line 2
        return keras_mimo.MIMOModel(inputs, outputs, batch_repetitions=FLAGS.batch_repetitions, seed=FLAGS.seed)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def train_and_evaluate(model, x_train, y_train, x_test, y_test):
    import keras

    import keras_mimo

    model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    train = cifar_pipeline.numpy_train_dataset(x_train, y_train, 128, FLAGS.seed)
    print(f"training {model.name} ({model.count_params():,} parameters) for {FLAGS.epochs} epochs", flush=True)
    start = time.time()
    model.fit(train, epochs=FLAGS.epochs, verbose=FLAGS.verbose)
    results = keras_mimo.evaluate_ensemble(model, cifar.normalize(x_test), y_test, verbose=0)
    results["train_seconds"] = time.time() - start
    return results


def compare():
    """Trains the single CNN and its MIMO version; returns their metrics."""
    import keras

    keras.utils.set_random_seed(FLAGS.seed)
    try:
        if FLAGS.npz_dir:
            x_train, y_train, x_test, y_test = cifar.load_npz(FLAGS.npz_dir)
        else:
            x_train, y_train, x_test, y_test = cifar.load_tfds("cifar10", FLAGS.data_dir)
    except tfds_loading.DataUnavailableError as e:
        sys.exit(f"error: {e}")
    if FLAGS.train_examples:
        x_train, y_train = x_train[: FLAGS.train_examples], y_train[: FLAGS.train_examples]
    if FLAGS.test_examples:
        x_test, y_test = x_test[: FLAGS.test_examples], y_test[: FLAGS.test_examples]
    rows = {
        "single": train_and_evaluate(cnn(FLAGS.width), x_train, y_train, x_test, y_test),
        f"MIMO M={FLAGS.ensemble_size}": train_and_evaluate(
            cnn(FLAGS.width, FLAGS.ensemble_size), x_train, y_train, x_test, y_test
        ),
    }
    print(f"\n{'model':<10} {'accuracy':>9} {'NLL':>7} {'ECE':>7} {'Brier':>7} {'members':>16} {'train s':>8}")
    for name, r in rows.items():
        members = " ".join(f"{a:.3f}" for a in r["member_accuracy"])
        print(
            f"{name:<10} {r['accuracy']:>9.4f} {r['nll']:>7.4f} {r['ece']:>7.4f} "
            f"{r['brier']:>7.4f} {members:>16} {r['train_seconds']:>8.0f}"
        )
    return rows


def main(argv):
    del argv
    compare()


if __name__ == "__main__":
    app.run(main)
