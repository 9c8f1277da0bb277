import json
import os
import time

import keras
import pytest

import keras_mimo

BACKEND = keras.backend.backend()


def tiny_config(cifar_resnet, **overrides):
    cifar_resnet.FLAGS.unparse_flags()
    cifar_resnet.FLAGS(["cifar_resnet"])
    config = cifar_resnet.config_from_flags()
    config.update(
        depth=10, width_multiplier=1, epochs=2, batch_size=16, verbose=0, batch_repetitions=2, virtual_batch_size=8
    )
    config.update(overrides)
    return config


def test_defaults_are_the_reference_recipe(example):
    cifar_resnet = example("cifar_resnet")
    config = tiny_config(cifar_resnet)
    cifar_resnet.FLAGS.unparse_flags()
    cifar_resnet.FLAGS(["cifar_resnet"])
    defaults = cifar_resnet.config_from_flags()
    assert (defaults["depth"], defaults["width_multiplier"], defaults["ensemble_size"]) == (28, 10, 3)
    assert (defaults["batch_repetitions"], defaults["batch_size"], defaults["rows_per_step"]) == (4, 128, 0)
    assert (defaults["crop_padding"], defaults["virtual_batch_size"]) == (2, 64)
    assert defaults["input_repetition_probability"] == 0.0 and defaults["l2"] == 3e-4
    assert defaults["epochs"] == 250 and defaults["lr_decay_epochs"] == ["100", "200", "225"]
    assert config["depth"] == 10


@pytest.mark.large
@pytest.mark.parametrize(
    "pipeline", ["numpy", pytest.param("tf_data", marks=pytest.mark.large(backends=("tensorflow",)))]
)
def test_tiny_run_on_npz_writes_metrics_and_a_loadable_model(example, tiny_npz, tmp_path, pipeline):
    if pipeline == "tf_data" and BACKEND != "tensorflow":
        pytest.skip("tf.data pipelines feed the tensorflow backend")
    cifar_resnet = example("cifar_resnet")
    out = tmp_path / "run"
    config = tiny_config(
        cifar_resnet,
        npz_dir=tiny_npz,
        output_dir=str(out),
        pipeline=pipeline,
        corruptions=True,
        corruption_types=["fog"],
        corruption_examples=10,
    )
    metrics = cifar_resnet.run(config)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["test"]["num_examples"] == 30 and len(saved["test"]["member_accuracy"]) == 3
    assert saved["corrupted"]["per_corruption"]["fog"]["5"]["num_examples"] == 10
    assert saved["flags"]["depth"] == 10 and saved["rows_per_step"] == 32
    assert saved["unique_batch"] == 16 and saved["learning_rate"] == pytest.approx(0.1 * 16 / 128)
    model = keras.models.load_model(out / "model.keras")
    assert isinstance(model, keras_mimo.MIMOModel) and model.batch_repetitions == 2
    assert model.ensemble_method == "softmax_logits"  # the reference trains from logits
    assert metrics["pipeline"] == pipeline
    assert saved["jit_compile"] is (BACKEND == "jax")  # --jit_compile=auto: Keras's choice on a CPU


@pytest.mark.large
def test_killed_run_resumes_from_backup(example, tiny_npz, tmp_path):
    cifar_resnet = example("cifar_resnet")
    out = tmp_path / "run"

    class Crash(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                raise KeyboardInterrupt("simulated kill after epoch 1")

    config = tiny_config(cifar_resnet, npz_dir=tiny_npz, output_dir=str(out), epochs=2)
    with pytest.raises(KeyboardInterrupt):
        cifar_resnet.run(config, extra_callbacks=[Crash()])
    assert os.path.isdir(out / "backup")
    epochs_run = []

    class Count(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            epochs_run.append(epoch)

    cifar_resnet.run(config, extra_callbacks=[Count()])
    assert epochs_run == [1]  # continued with the second epoch


@pytest.mark.large
def test_tfds_mock_data_run(example, tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    cifar_resnet = example("cifar_resnet")
    config = tiny_config(cifar_resnet, dataset="cifar100", output_dir=str(tmp_path / "run"), epochs=1)
    with tfds.testing.mock_data(num_examples=48):
        metrics = cifar_resnet.run(config)
    assert metrics["test"]["num_examples"] == 48


def test_readme_main_command_fails_fast_offline_naming_both_data_flags(example, tmp_path, monkeypatch):
    pytest.importorskip("tensorflow_datasets")
    import pathlib
    import re
    import shlex

    from keras_mimo.datasets import tfds_loading

    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
    command = re.search(r"python examples/cifar_resnet\.py([^\n]*)", readme).group(1)
    assert "--npz_dir" not in command and "shared" not in command  # a fresh machine has no local copy
    cifar_resnet = example("cifar_resnet")
    cifar_resnet.FLAGS.unparse_flags()
    cifar_resnet.FLAGS(["cifar_resnet"] + shlex.split(command) + [f"--data_dir={tmp_path / 'empty'}"])
    monkeypatch.setattr(tfds_loading, "online", lambda *a, **k: False)
    start = time.time()
    with pytest.raises(tfds_loading.DataUnavailableError, match=r"--data_dir.*--npz_dir"):
        cifar_resnet.load_data(cifar_resnet.config_from_flags())
    assert time.time() - start < 30


def test_readme_main_command_has_valid_flags(example):
    import pathlib
    import re
    import shlex

    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
    commands = re.findall(r"python examples/cifar_resnet\.py([^\n]*)", readme)
    assert len(commands) >= 3  # the main command, its offline variant, the GPU recipe
    cifar_resnet = example("cifar_resnet")
    for command in commands:
        cifar_resnet.FLAGS.unparse_flags()
        cifar_resnet.FLAGS(["cifar_resnet"] + shlex.split(command))
        config = cifar_resnet.config_from_flags()
        model = keras_mimo.applications.wide_resnet(
            depth=config["depth"],
            width_multiplier=config["width_multiplier"],
            ensemble_size=config["ensemble_size"],
        )
        assert model.ensemble_size == config["ensemble_size"]


@pytest.mark.parametrize("replicas", [1, 2, 4])
def test_global_batch_and_learning_rate_do_not_depend_on_replicas(example, replicas):
    cifar_resnet = example("cifar_resnet")
    config = tiny_config(cifar_resnet, batch_size=128, batch_repetitions=4)
    plan = cifar_resnet.batch_plan(config, replicas)
    assert (plan["unique_batch"], plan["rows_per_step"]) == (128, 512)
    assert plan["per_replica"] == 128 // replicas and plan["learning_rate"] == pytest.approx(0.1)


@pytest.mark.parametrize("repetitions,unique", [(1, 512), (2, 256), (4, 128), (8, 64)])
def test_ablation_protocol_keeps_the_rows_per_step(example, repetitions, unique):
    cifar_resnet = example("cifar_resnet")
    config = tiny_config(cifar_resnet, rows_per_step=512, batch_repetitions=repetitions)
    plan = cifar_resnet.batch_plan(config, 1)
    assert (plan["unique_batch"], plan["rows_per_step"]) == (unique, 512)
    assert plan["learning_rate"] == pytest.approx(0.1 * unique / 128)


def test_a_batch_that_does_not_split_across_replicas_is_refused(example):
    cifar_resnet = example("cifar_resnet")
    with pytest.raises(ValueError, match="multiple of the 3 replicas"):
        cifar_resnet.batch_plan(tiny_config(cifar_resnet, batch_size=128), 3)


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
def test_mixed_precision_prefers_bfloat16_where_the_accelerator_has_it(example, capability, policy):
    cifar_resnet = example("cifar_resnet")
    assert cifar_resnet.mixed_precision_policy(capability) == policy
    assert cifar_resnet.mixed_precision_policy() == "mixed_bfloat16"  # this CPU machine
