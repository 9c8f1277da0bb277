"""Shared test harness (in the keras-hub style): one way to test a layer and a saved model.

- `run_layer_test`: config and serialization round trip, symbolic vs eager
  call (shapes and dtypes agree), the expected output shape, and a training
  step of a model around the layer.
- `run_saving_test`: a model saved as `.keras` loads as the same class and
  predicts the same values.
- `run_serialization_test`: the round trip alone, for losses, metrics,
  schedules and operations.
"""

import importlib.util
import sys

import keras
import numpy as np


def _configs_equal(a, b):
    return keras.saving.serialize_keras_object(a) == keras.saving.serialize_keras_object(b)


def run_serialization_test(obj):
    """`obj` survives `get_config`/`from_config` and `serialize`/`deserialize_keras_object` unchanged."""
    config = obj.get_config()
    revived = type(obj).from_config(config)
    assert type(revived) is type(obj)
    assert _configs_equal(revived.get_config(), config), (revived.get_config(), config)
    serialized = keras.saving.serialize_keras_object(obj)
    assert serialized["registered_name"].startswith("keras_mimo>"), serialized["registered_name"]
    revived = keras.saving.deserialize_keras_object(serialized)
    assert type(revived) is type(obj)
    assert _configs_equal(revived.get_config(), config)
    return revived


def _symbolic(data):
    return keras.tree.map_structure(lambda t: keras.KerasTensor(np.shape(t), dtype=str(np.asarray(t).dtype)), data)


def run_layer_test(
    layer_cls,
    init_kwargs: dict,
    input_data,
    expected_output_shape=None,
    run_training_check: bool = True,
):
    """Checks one layer class end to end; returns the eager output.

    Args:
        layer_cls: the layer class.
        init_kwargs: its constructor arguments.
        input_data: a numpy array (or a nest) to call it on.
        expected_output_shape: a shape tuple (or a nest of them), or None.
        run_training_check: whether to fit one step of `keras.Model(inputs, layer(inputs))`
            on targets of the output's shape (False for layers that only run inside a MIMOModel
            or return dicts).
    """
    layer = layer_cls(**init_kwargs)
    run_serialization_test(layer)
    eager = layer(input_data)
    symbolic = layer_cls(**init_kwargs)(_symbolic(input_data))
    shapes = keras.tree.map_structure(lambda t: tuple(t.shape), eager)
    assert keras.tree.map_structure(lambda t: tuple(t.shape), symbolic) == shapes, (symbolic, shapes)
    eager_dtypes = keras.tree.map_structure(lambda t: keras.backend.standardize_dtype(t.dtype), eager)
    assert keras.tree.map_structure(lambda t: t.dtype, symbolic) == eager_dtypes
    if expected_output_shape is not None:
        assert shapes == expected_output_shape, (shapes, expected_output_shape)
    if run_training_check:
        inputs = _symbolic(input_data)
        inputs = keras.tree.map_structure(lambda t: keras.Input(batch_shape=t.shape, dtype=t.dtype), inputs)
        model = keras.Model(inputs, layer_cls(**init_kwargs)(inputs))
        model.compile("sgd", "mse")
        target = keras.tree.map_structure(lambda t: np.zeros(t.shape, "float32"), eager)
        loss = model.train_on_batch(input_data, target)
        assert np.isfinite(loss)
    return eager


def run_saving_test(model, input_data, tmp_path, name: str = "model.keras", predict=None):
    """`model` saved as `.keras` loads as the same class and predicts the same; returns the loaded model.

    `predict(model, x)` gives what is compared (default: `model.predict(x)`).
    """
    predict = predict or (lambda m, x: m.predict(x, verbose=0))
    expected = predict(model, input_data)
    path = str(tmp_path / name)
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model)
    keras.tree.map_structure(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), predict(loaded, input_data), expected
    )
    return loaded


def optional_import(module: str):
    """The imported `module`, or None where it is missing; CI (`KERAS_MIMO_EXPECT_INSTALLED`) requires it.

    For the part of a test that needs an optional dependency (e.g. TensorFlow for a
    SavedModel export on JAX): a JAX-only install still runs the rest of the test.
    """
    import importlib
    import os

    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get("KERAS_MIMO_EXPECT_INSTALLED"):
            raise
        return None


def installed_or_skip(module: str, reason: str = ""):
    """The imported `module`; skips when it is missing, but fails when `KERAS_MIMO_EXPECT_INSTALLED` is set.

    CI (`scripts/run_tests.sh`) installs every test dependency and sets the
    variable, so there a missing (or broken) oracle is an error, not a skip.
    """
    import importlib
    import os

    import pytest

    if os.environ.get("KERAS_MIMO_EXPECT_INSTALLED"):
        return importlib.import_module(module)
    try:
        return importlib.import_module(module)
    except Exception as e:  # noqa: BLE001 - e.g. TFP failing to import next to another TF
        pytest.skip(f"{module} unavailable{': ' + reason if reason else ''}: {e}")


def tiny_resnet_backbone(channels: int = 3):
    """A keras-hub `ResNetBackbone` of one basic block on `(16, 16, channels)` images (skips without keras-hub)."""
    keras_hub = installed_or_skip("keras_hub")
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64],
        stackwise_num_blocks=[1],
        stackwise_num_strides=[1],
        block_type="basic_block",
        use_pre_activation=False,
        image_shape=(16, 16, channels),
    )


def load_module_from_file(name: str, path):
    """Imports the file `path` as module `name`, once per process, without touching sys.path.

    For what is not an installed package: the repository's `benchmarks`
    (its `__init__.py`; registered first, so its modules import each other
    through `__path__`), the example scripts and `scripts/`. The repository
    root never goes on sys.path, where the source `keras_mimo` would shadow
    the installed wheel that scripts/run_tests.sh tests.
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
