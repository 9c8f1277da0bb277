"""examples/text_classifier.py: IMDB through TFDS mock data, offline failure, masks.

Each test runs in its own process: the examples define absl flags of the same
names (--data_dir, --epochs, ...), which one process can hold only once.
"""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import keras
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
TINY = [
    "--epochs=1",
    "--max_length=16",
    "--vocab_size=60",
    "--embed_dim=8",
    "--num_heads=2",
    "--ff_dim=8",
    "--ensemble_size=2",
    "--batch_size=8",
    "--verbose=0",
]

# examples run end to end (each in its own process): the large tier
pytestmark = pytest.mark.large


def run_with_example(body: str, args=(), timeout=600):
    """Runs `body` in a fresh process with `text_classifier` imported and its flags parsed."""
    code = textwrap.dedent(f"""
        import numpy as np
        import text_classifier
        text_classifier.FLAGS(["text_classifier"] + {list(TINY) + list(args)!r})
    """) + textwrap.dedent(body)
    # the examples' folder on the child's path (not this process's): `import text_classifier` there
    path = os.pathsep.join(filter(None, [str(EXAMPLES), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend(), PYTHONPATH=path)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_vocabulary_and_encoding():
    run_with_example("""
        # most frequent first (ties in order of appearance), after 0 = pad, 1 = unknown
        vocabulary = text_classifier.build_vocabulary([b"good film<br />GOOD good", "a film a b"], 5)
        assert vocabulary == {"good": 2, "film": 3, "a": 4}, vocabulary
        ids = text_classifier.encode(["good film unknownword", "a " * 9], vocabulary, 5)
        np.testing.assert_array_equal(ids, [[2, 3, text_classifier.OOV, 0, 0], [4] * 5])
    """)


def test_mock_imdb_run_writes_single_and_mimo_metrics(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    out = tmp_path / "run"
    run_with_example(
        f"""
        import keras, keras_mimo
        import tensorflow_datasets as tfds
        with tfds.testing.mock_data(num_examples=24):
            results = text_classifier.run(text_classifier.config_from_flags())
        loaded = keras.models.load_model({str(out / "mimo.keras")!r})
        assert isinstance(loaded, keras_mimo.MIMOModel) and loaded.ensemble_size == 2
    """,
        [f"--output_dir={out}", f"--data_dir={tmp_path / 'tfds'}"],
    )
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["single"]["test"]["ensemble_size"] == 1
    assert saved["mimo"]["test"]["ensemble_size"] == 2 and len(saved["mimo"]["test"]["member_accuracy"]) == 2
    assert saved["mimo"]["test"]["num_examples"] == saved["test_examples"] == 24


def test_offline_without_data_fails_fast_with_a_helpful_message(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    out = run_with_example(f"""
        import time
        from keras_mimo.datasets import tfds_loading
        tfds_loading.online = lambda *a, **k: False
        start = time.time()
        try:
            text_classifier.load_imdb({str(tmp_path / "empty")!r})
            raise AssertionError("expected DataUnavailableError")
        except tfds_loading.DataUnavailableError as e:
            assert "--data_dir" in str(e), e
        print("seconds", time.time() - start)
    """)
    assert float(out.split("seconds")[-1]) < 30


def test_the_example_model_ignores_padding():
    run_with_example("""
        config = text_classifier.config_from_flags()
        short_model = text_classifier.text_model(dict(config, max_length=12), ensemble_size=2)
        long_model = text_classifier.text_model(dict(config, max_length=20), ensemble_size=2)
        long_model.set_weights(short_model.get_weights())
        tokens = np.random.default_rng(0).integers(2, 60, (4, 5)).astype("int32")
        short = np.zeros((4, 12), "int32"); short[:, :5] = tokens
        padded = np.zeros((4, 20), "int32"); padded[:, :5] = tokens
        np.testing.assert_allclose(long_model.predict(padded, verbose=0),
                                   short_model.predict(short, verbose=0), rtol=1e-5, atol=1e-6)
    """)
