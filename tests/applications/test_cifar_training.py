"""keras_mimo.applications.cifar_training: the reference CIFAR recipe as `train(TrainConfig(...))`."""

import dataclasses
import importlib.util
import json
import os

import keras
import numpy as np
import pytest

import keras_mimo
from keras_mimo.applications import cifar_training
from keras_mimo.applications.cifar_training import TrainConfig
from keras_mimo.datasets import cifar_pipeline

BACKEND = keras.backend.backend()


def tiny_config(**overrides) -> TrainConfig:
    """WRN-10-1, M=3, 16 unique images per step, silent: a few seconds per epoch on a CPU."""
    fields = dict(
        depth=10,
        width_multiplier=1,
        epochs=1,
        batch_size=16,
        verbose=0,
        batch_repetitions=2,
        virtual_batch_size=8,
        pipeline="numpy",
    )
    return TrainConfig(**{**fields, **overrides})


def tiny_data(num_classes=10, train=32, test=8):
    """Fixed uint8 CIFAR-shaped arrays: (x_train, y_train, x_test, y_test)."""
    rng = np.random.default_rng(0)
    return (
        rng.integers(0, 256, (train, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, num_classes, train).astype(np.int32),
        rng.integers(0, 256, (test, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, num_classes, test).astype(np.int32),
    )


def test_defaults_are_the_reference_recipe():
    defaults = TrainConfig()
    assert (defaults.depth, defaults.width_multiplier, defaults.ensemble_size) == (28, 10, 3)
    assert (defaults.batch_repetitions, defaults.batch_size, defaults.rows_per_step) == (4, 128, 0)
    assert (defaults.crop_padding, defaults.virtual_batch_size) == (2, 64)
    assert defaults.input_repetition_probability == 0.0 and defaults.l2 == 3e-4
    assert defaults.epochs == 250 and defaults.lr_decay_epochs == (100, 200, 225)
    assert (defaults.base_learning_rate, defaults.lr_decay_ratio, defaults.warmup_epochs) == (0.1, 0.2, 1.0)
    assert defaults.mixing == "none" and defaults.jit_compile == "auto"


def test_the_config_is_a_frozen_record_and_lists_become_tuples():
    config = TrainConfig(lr_decay_epochs=[10, 20], corruption_types=["fog"])
    assert config.lr_decay_epochs == (10, 20) and config.corruption_types == ("fog",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.epochs = 3
    assert dataclasses.replace(config, epochs=3).epochs == 3


@pytest.mark.parametrize(
    "field,value,error",
    [
        ("dataset", "mnist", ValueError),
        ("mixing", "cutmix", ValueError),
        ("jit_compile", "true", ValueError),
        ("jit_compile", 1, ValueError),
        ("verbose", 3, ValueError),
        ("depth", 0, ValueError),
        ("epochs", 2.5, TypeError),
        ("batch_size", True, TypeError),
        ("rows_per_step", -1, ValueError),
        ("input_repetition_probability", 1.5, ValueError),
        ("base_learning_rate", 0.0, ValueError),
        ("l2", -1e-4, ValueError),
        ("lr_decay_epochs", "100,200", TypeError),
        ("npz_dir", 3, TypeError),
        ("corruptions", "yes", TypeError),
    ],
)
def test_a_bad_field_is_refused_by_name(field, value, error):
    with pytest.raises(error, match=rf"Received: {field}="):
        TrainConfig(**{field: value})


def test_train_refuses_what_is_not_a_config():
    with pytest.raises(TypeError, match=r"Received: config=\{"):
        cifar_training.train({"epochs": 1})
    with pytest.raises(ValueError, match=r"Received: data of type ndarray"):
        cifar_training.train(tiny_config(), data=np.zeros(4))


@pytest.mark.parametrize("replicas", [1, 2, 4])
def test_global_batch_and_learning_rate_do_not_depend_on_replicas(replicas):
    plan = cifar_training.batch_plan(tiny_config(batch_size=128, batch_repetitions=4), replicas)
    assert (plan["unique_batch"], plan["rows_per_step"]) == (128, 512)
    assert plan["per_replica"] == 128 // replicas and plan["learning_rate"] == pytest.approx(0.1)


@pytest.mark.parametrize("repetitions,unique", [(1, 512), (2, 256), (4, 128), (8, 64)])
def test_ablation_protocol_keeps_the_rows_per_step(repetitions, unique):
    plan = cifar_training.batch_plan(tiny_config(rows_per_step=512, batch_repetitions=repetitions), 1)
    assert (plan["unique_batch"], plan["rows_per_step"]) == (unique, 512)
    assert plan["learning_rate"] == pytest.approx(0.1 * unique / 128)


def test_a_batch_that_does_not_split_across_replicas_is_refused():
    with pytest.raises(ValueError, match="multiple of the 3 replicas"):
        cifar_training.batch_plan(tiny_config(batch_size=128), 3)


@pytest.mark.parametrize(
    "capability,policy",
    [
        ((9, 0), "mixed_bfloat16"),
        ((8, 0), "mixed_bfloat16"),
        ((7, 5), "mixed_float16"),
        ((7, 0), "mixed_float16"),
        (None, "mixed_bfloat16"),
    ],
)
def test_mixed_precision_prefers_bfloat16_where_the_accelerator_has_it(capability, policy):
    assert cifar_training.mixed_precision_policy(capability) == policy
    assert cifar_training.mixed_precision_policy() == "mixed_bfloat16"  # this CPU machine


def test_a_bad_capability_is_refused_by_name():
    with pytest.raises(ValueError, match=r"Received: capability=8"):
        cifar_training.mixed_precision_policy(8)


def test_load_data_cuts_the_npz_copy(tiny_npz):
    x_train, y_train, x_test, y_test = cifar_training.load_data(
        tiny_config(npz_dir=tiny_npz, train_examples=50, test_examples=7)
    )
    assert x_train.shape == (50, 32, 32, 3) and y_train.shape == (50,)
    assert x_test.shape == (7, 32, 32, 3) and y_test.shape == (7,)


def test_a_tiny_run_writes_metrics_and_a_loadable_model(tmp_path):
    out = tmp_path / "run"
    metrics = cifar_training.train(tiny_config(output_dir=str(out)), data=tiny_data())
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["test"]["num_examples"] == 8 and len(saved["test"]["member_accuracy"]) == 3
    assert saved["flags"]["depth"] == 10 and saved["flags"]["lr_decay_epochs"] == [100, 200, 225]
    assert saved["rows_per_step"] == 32 and saved["unique_batch"] == 16
    assert saved["learning_rate"] == pytest.approx(0.1 * 16 / 128)
    assert saved["jit_compile"] is (BACKEND == "jax")  # jit_compile="auto": Keras's choice on a CPU
    assert metrics["pipeline"] == "numpy" and metrics["test"] == saved["test"]
    model = keras.models.load_model(out / "model.keras")
    assert isinstance(model, keras_mimo.MIMOModel) and model.batch_repetitions == 2
    assert model.ensemble_method == "softmax_logits"  # the reference trains from logits
    assert not os.path.exists(out / "backup")  # a finished run leaves no backup behind


@pytest.mark.large  # two runs of the recipe; BackupAndRestore's resume itself: tests/test_model_resume.py
def test_a_killed_run_resumes_from_its_backup(tmp_path):
    out = tmp_path / "run"
    config = tiny_config(output_dir=str(out), epochs=2)

    class Crash(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                raise KeyboardInterrupt("simulated kill after epoch 1")

    with pytest.raises(KeyboardInterrupt):
        cifar_training.train(config, extra_callbacks=[Crash()], data=tiny_data())
    assert os.path.isdir(out / "backup")
    epochs_run = []

    class Count(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            epochs_run.append(epoch)

    cifar_training.train(config, extra_callbacks=[Count()], data=tiny_data())
    assert epochs_run == [1]  # continued with the second epoch


@pytest.mark.large
@pytest.mark.parametrize(
    "pipeline", ["numpy", pytest.param("tf_data", marks=pytest.mark.large(backends=("tensorflow",)))]
)
def test_a_run_on_an_npz_copy_with_corruptions(tiny_npz, tmp_path, pipeline):
    if pipeline == "tf_data" and BACKEND != "tensorflow":
        pytest.skip("tf.data pipelines feed the tensorflow backend")
    out = tmp_path / "run"
    config = tiny_config(
        npz_dir=tiny_npz,
        output_dir=str(out),
        pipeline=pipeline,
        epochs=2,
        corruptions=True,
        corruption_types=["fog"],
        corruption_examples=10,
    )
    metrics = cifar_training.train(config)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["test"]["num_examples"] == 30
    assert saved["corrupted"]["per_corruption"]["fog"]["5"]["num_examples"] == 10
    assert metrics["pipeline"] == pipeline
    if cifar_pipeline.tf_available() and importlib.util.find_spec("tensorboard"):
        assert os.path.isdir(out / "tb")


@pytest.mark.large
def test_tfds_mock_data_run(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    config = tiny_config(dataset="cifar100", output_dir=str(tmp_path / "run"))
    with tfds.testing.mock_data(num_examples=48):
        metrics = cifar_training.train(config)
    assert metrics["test"]["num_examples"] == 48
