"""examples/text_classifier.py: IMDB through TFDS mock data, offline failure, masks."""

import json
import time

import keras
import numpy as np
import pytest

import keras_mimo


def tiny_config(text_classifier, **overrides):
    text_classifier.FLAGS.unparse_flags()
    text_classifier.FLAGS(["text_classifier"])
    config = text_classifier.config_from_flags()
    config.update(epochs=1, max_length=16, vocab_size=60, embed_dim=8, num_heads=2, ff_dim=8,
                  ensemble_size=2, batch_size=8, verbose=0)
    config.update(overrides)
    return config


def test_defaults_and_vocabulary(example):
    text_classifier = example("text_classifier")
    config = tiny_config(text_classifier)
    assert config["ensemble_size"] == 2 and config["max_length"] == 16
    # most frequent first (ties in order of appearance), after 0 = pad, 1 = unknown
    vocabulary = text_classifier.build_vocabulary([b"good film<br />GOOD good", "a film a b"], 5)
    assert vocabulary == {"good": 2, "film": 3, "a": 4}
    ids = text_classifier.encode(["good film unknownword", "a " * 9], vocabulary, 5)
    np.testing.assert_array_equal(ids, [[2, 3, text_classifier.OOV, 0, 0], [4] * 5])


def test_mock_imdb_run_writes_single_and_mimo_metrics(example, tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    text_classifier = example("text_classifier")
    out = tmp_path / "run"
    config = tiny_config(text_classifier, output_dir=str(out), data_dir=str(tmp_path / "tfds"))
    with tfds.testing.mock_data(num_examples=24):
        results = text_classifier.run(config)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["single"]["test"]["ensemble_size"] == 1
    assert saved["mimo"]["test"]["ensemble_size"] == 2 and len(saved["mimo"]["test"]["member_accuracy"]) == 2
    assert saved["mimo"]["test"]["num_examples"] == results["test_examples"] == 24
    loaded = keras.models.load_model(out / "mimo.keras")
    assert isinstance(loaded, keras_mimo.MIMOModel) and loaded.ensemble_size == 2


def test_offline_without_data_fails_fast_with_a_helpful_message(example, tmp_path, monkeypatch):
    pytest.importorskip("tensorflow_datasets")
    from keras_mimo.applications import tfds_loading

    text_classifier = example("text_classifier")
    monkeypatch.setattr(tfds_loading, "online", lambda *a, **k: False)
    start = time.time()
    with pytest.raises(tfds_loading.DataUnavailableError, match="--data_dir"):
        text_classifier.load_imdb(str(tmp_path / "empty"))
    assert time.time() - start < 30


def test_the_example_model_ignores_padding(example):
    text_classifier = example("text_classifier")
    config = tiny_config(text_classifier, max_length=12)
    model = text_classifier.text_model(config, ensemble_size=2)
    rng = np.random.default_rng(0)
    short = np.zeros((4, 12), "int32")
    short[:, :5] = rng.integers(2, 60, (4, 5))
    longer_config = dict(config, max_length=20)
    longer = text_classifier.text_model(longer_config, ensemble_size=2)
    longer.set_weights(model.get_weights())
    padded = np.zeros((4, 20), "int32")
    padded[:, :5] = short[:, :5]
    np.testing.assert_allclose(longer.predict(padded, verbose=0), model.predict(short, verbose=0), rtol=1e-5, atol=1e-6)
