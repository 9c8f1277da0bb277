r"""Text classification with MIMO: IMDB reviews and a small transformer encoder.

Tokens -> Embedding(mask_zero=True) -> MIMOInput -> transformer encoder ->
masked average pooling -> MIMOHead. Trains the same network twice, once as a
single model (without the two MIMO lines) and once as a MIMO ensemble, then
scores both with `keras_mimo.evaluate_ensemble` on the test reviews and writes
`metrics.json` with them side by side:

    python examples/text_classifier.py --data_dir ~/tensorflow_datasets --output_dir runs/imdb

Padding is masked end to end: `MIMOInput` passes on the OR of the members'
masks, so predictions do not depend on how much padding a review gets.
Needs `tensorflow-datasets` (and TensorFlow, which it uses to read the data);
the model trains on any Keras backend.
"""

import collections
import json
import os
import re
import sys
import time

import numpy as np
from absl import app
from absl import flags

from keras_mimo.datasets.tfds_loading import DataUnavailableError
from keras_mimo.datasets.tfds_loading import load_prepared_or_download

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "TFDS data directory (imdb_reviews is prepared or downloaded there).")
flags.DEFINE_string("output_dir", "runs/text_classifier", "Where metrics.json and the models are written.")
flags.DEFINE_integer("ensemble_size", 3, "MIMO members M.")
flags.DEFINE_integer("batch_repetitions", 2, "MIMO batch repetitions b.")
flags.DEFINE_float("input_repetition_probability", 0.0, "MIMO rho.")
flags.DEFINE_integer("epochs", 4, "Epochs for both models.")
flags.DEFINE_integer("batch_size", 32, "Unique examples per step.")
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.")
flags.DEFINE_integer("max_length", 256, "Tokens kept per review (longer ones are cut).")
flags.DEFINE_integer("vocab_size", 20000, "Vocabulary size, padding and out-of-vocabulary included.")
flags.DEFINE_integer("embed_dim", 64, "Token embedding size per member.")
flags.DEFINE_integer("num_heads", 2, "Attention heads.")
flags.DEFINE_integer("ff_dim", 128, "Feed-forward width of the encoder.")
flags.DEFINE_integer("train_examples", 0, "Training reviews used (0: all 25,000).")
flags.DEFINE_integer("test_examples", 0, "Test reviews used (0: all 25,000).")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_integer("verbose", 2, "Keras fit verbosity.")

PAD, OOV = 0, 1
_WORD = re.compile(r"[a-z0-9']+")


def words(text) -> list:
    """Lower-cased words of a review (HTML line breaks removed)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return _WORD.findall(text.lower().replace("<br />", " "))


def build_vocabulary(texts, vocab_size: int) -> dict:
    """word -> id for the `vocab_size - 2` most frequent words (0 pad, 1 unknown)."""
    counts = collections.Counter(w for text in texts for w in words(text))
    return {w: i + 2 for i, (w, _) in enumerate(counts.most_common(vocab_size - 2))}


def encode(texts, vocabulary: dict, max_length: int) -> np.ndarray:
    """Token ids `(N, max_length)` int32, right-padded with 0."""
    out = np.zeros((len(texts), max_length), np.int32)
    for i, text in enumerate(texts):
        ids = [vocabulary.get(w, OOV) for w in words(text)][:max_length]
        out[i, : len(ids)] = ids
    return out


def load_imdb(data_dir):
    """`(train_texts, train_labels, test_texts, test_labels)` from TFDS `imdb_reviews`."""
    import tensorflow_datasets as tfds

    def load(download):
        splits = tfds.load(
            "imdb_reviews", split=["train", "test"], data_dir=data_dir, as_supervised=True, download=download
        )
        arrays = []
        for ds in splits:
            batches = list(tfds.as_numpy(ds.batch(4096)))
            arrays += [[t for b in batches for t in b[0]], np.concatenate([b[1] for b in batches]).astype(np.int32)]
        return tuple(arrays)

    return load_prepared_or_download(load, "imdb_reviews", data_dir)


def text_model(config: dict, ensemble_size=None):
    """The user's encoder classifier; `ensemble_size` adds the two MIMO lines."""
    import keras

    import keras_mimo

    tokens = keras.Input((config["max_length"],), dtype="int32", name="tokens")
    x = keras.layers.Embedding(config["vocab_size"], config["embed_dim"], mask_zero=True)(tokens)
    if ensemble_size:
        x = keras_mimo.MIMOInput(ensemble_size)(x)  # added line 1
    x = keras.layers.Dense(config["embed_dim"])(x)
    attention = keras.layers.MultiHeadAttention(
        config["num_heads"], config["embed_dim"] // config["num_heads"], dropout=0.1
    )(x, x)
    x = keras.layers.LayerNormalization()(keras.layers.Add()([x, attention]))
    ff = keras.layers.Dense(config["ff_dim"], activation="relu")(x)
    ff = keras.layers.Dense(config["embed_dim"])(keras.layers.Dropout(0.1)(ff))
    x = keras.layers.LayerNormalization()(keras.layers.Add()([x, ff]))
    x = keras.layers.GlobalAveragePooling1D()(x)  # averages the unpadded positions only
    if ensemble_size:
        outputs = keras_mimo.MIMOHead(2, ensemble_size, activation="softmax")(x)  # added line 2
        return keras_mimo.MIMOModel(
            tokens,
            outputs,
            batch_repetitions=config["batch_repetitions"],
            input_repetition_probability=config["input_repetition_probability"],
            seed=config["seed"],
        )
    return keras.Model(tokens, keras.layers.Dense(2, activation="softmax")(x))


_FLAG_NAMES = (
    "data_dir",
    "output_dir",
    "ensemble_size",
    "batch_repetitions",
    "input_repetition_probability",
    "epochs",
    "batch_size",
    "learning_rate",
    "max_length",
    "vocab_size",
    "embed_dim",
    "num_heads",
    "ff_dim",
    "train_examples",
    "test_examples",
    "seed",
    "verbose",
)


def config_from_flags() -> dict:
    """This script's flags as a dict (what `run` takes)."""
    return {name: FLAGS[name].value for name in _FLAG_NAMES}


def run(config: dict) -> dict:
    """Trains the single model and the MIMO ensemble; returns (and writes) metrics.json."""
    import keras

    import keras_mimo

    train_texts, y_train, test_texts, y_test = load_imdb(config["data_dir"])
    if config["train_examples"]:
        train_texts, y_train = train_texts[: config["train_examples"]], y_train[: config["train_examples"]]
    if config["test_examples"]:
        test_texts, y_test = test_texts[: config["test_examples"]], y_test[: config["test_examples"]]
    vocabulary = build_vocabulary(train_texts, config["vocab_size"])
    x_train = encode(train_texts, vocabulary, config["max_length"])
    x_test = encode(test_texts, vocabulary, config["max_length"])
    os.makedirs(config["output_dir"], exist_ok=True)
    results = {"config": config, "train_examples": len(x_train), "test_examples": len(x_test)}
    for name, ensemble_size in (("single", None), ("mimo", config["ensemble_size"])):
        keras.utils.set_random_seed(config["seed"])
        model = text_model(config, ensemble_size)
        model.compile(
            keras.optimizers.Adam(config["learning_rate"]), "sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        start = time.time()
        model.fit(x_train, y_train, batch_size=config["batch_size"], epochs=config["epochs"], verbose=config["verbose"])
        train_seconds = time.time() - start
        model.save(os.path.join(config["output_dir"], f"{name}.keras"))
        results[name] = {
            "ensemble_size": ensemble_size or 1,
            "parameters": int(model.count_params()),
            "train_seconds": train_seconds,
            "test": keras_mimo.evaluate_ensemble(model, x_test, y_test, verbose=0),
        }
    with open(os.path.join(config["output_dir"], "metrics.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
    return results


def main(argv):
    del argv
    try:
        results = run(config_from_flags())
    except DataUnavailableError as e:
        sys.exit(f"error: {e}")
    print(f"{'model':8} {'params':>9} {'acc':>7} {'nll':>7} {'ece':>7}")
    for name in ("single", "mimo"):
        r = results[name]
        print(
            f"{name:8} {r['parameters']:9d} {r['test']['accuracy']:7.4f} {r['test']['nll']:7.4f} "
            f"{r['test']['ece']:7.4f}"
        )


if __name__ == "__main__":
    app.run(main)
