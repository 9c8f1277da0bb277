"""examples/cifar_resnet.py: a thin script whose flags build a `TrainConfig` (the training is tested in
tests/applications/test_cifar_training.py)."""

import dataclasses
import pathlib
import re
import shlex
import time

import pytest

import keras_mimo
from keras_mimo.applications.cifar_training import TrainConfig

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def parse(cifar_resnet, argv=()):
    cifar_resnet.FLAGS.unparse_flags()
    cifar_resnet.FLAGS(["cifar_resnet", *argv])
    return cifar_resnet.config_from_flags()


def test_the_flags_defaults_are_the_library_defaults(example):
    cifar_resnet = example("cifar_resnet")
    assert parse(cifar_resnet) == TrainConfig()
    names = {field.name for field in dataclasses.fields(TrainConfig)}
    assert names <= set(cifar_resnet.FLAGS)  # every field has a flag of the same name


def test_flags_become_typed_config_fields(example):
    cifar_resnet = example("cifar_resnet")
    config = parse(cifar_resnet, ["--lr_decay_epochs=10,20.5", "--jit_compile=false", "--corruption_types=fog,snow"])
    assert config.lr_decay_epochs == (10.0, 20.5) and config.jit_compile is False
    assert config.corruption_types == ("fog", "snow")


def test_readme_main_command_fails_fast_offline_naming_both_data_flags(example, tmp_path, monkeypatch):
    pytest.importorskip("tensorflow_datasets")
    from keras_mimo.applications import cifar_training
    from keras_mimo.datasets import tfds_loading

    command = re.search(r"python examples/cifar_resnet\.py([^\n]*)", README.read_text()).group(1)
    assert "--npz_dir" not in command and "shared" not in command  # a fresh machine has no local copy
    config = parse(example("cifar_resnet"), shlex.split(command) + [f"--data_dir={tmp_path / 'empty'}"])
    monkeypatch.setattr(tfds_loading, "online", lambda *a, **k: False)
    start = time.time()
    with pytest.raises(tfds_loading.DataUnavailableError, match=r"--data_dir.*--npz_dir"):
        cifar_training.load_data(config)
    assert time.time() - start < 30


def test_readme_commands_have_valid_flags(example):
    commands = re.findall(r"python examples/cifar_resnet\.py([^\n]*)", README.read_text())
    assert len(commands) >= 3  # the main command, its offline variant, the GPU recipe
    cifar_resnet = example("cifar_resnet")
    for command in commands:
        config = parse(cifar_resnet, shlex.split(command))
        model = keras_mimo.applications.wide_resnet(
            depth=config.depth, width_multiplier=config.width_multiplier, ensemble_size=config.ensemble_size
        )
        assert model.ensemble_size == config.ensemble_size
