"""Pins every private Keras attribute keras-mimo uses (keras_mimo._keras_compat).

If one of these fails after a Keras upgrade, the hook it names changed: fix
`_keras_compat.py`, nothing else.
"""

import keras
import numpy as np
import pytest

from keras_mimo import _keras_compat
from tests.testing import installed_or_skip


def functional():
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(2, activation="softmax", name="last")(inputs)
    return keras.Model(inputs, outputs)


def test_compiled_loss_is_the_compiled_loss_callable():
    model = functional()
    assert _keras_compat.compiled_loss(model) is None
    model.compile(loss="sparse_categorical_crossentropy")
    y_pred = np.array([[0.25, 0.75], [0.5, 0.5]], "float32")
    loss = _keras_compat.compiled_loss(model)(np.array([1, 0]), y_pred, None)
    expected = -np.mean(np.log([0.75, 0.5]))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loss), expected, rtol=1e-5)


def test_producing_layer_of_a_symbolic_output():
    model = functional()
    assert _keras_compat.producing_layer(model.outputs[0]) is model.get_layer("last")


def test_is_graph_model_tells_functional_and_sequential_from_subclassed():
    class Subclassed(keras.Model):
        def call(self, x):
            return x

    seq = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert _keras_compat.is_graph_model(functional())
    assert _keras_compat.is_graph_model(seq)
    assert not _keras_compat.is_graph_model(Subclassed())


class _Spy(keras.layers.Layer):
    seen = []

    def call(self, x):
        _Spy.seen.append(_keras_compat.outermost_called_layer())
        return x


def test_outermost_called_layer_is_the_entry_of_the_call_stack():
    spy = _Spy()
    seq = keras.Sequential([keras.Input((3,)), spy])
    x = np.zeros((2, 3), "float32")
    _Spy.seen.clear()
    spy(x)
    seq(x)
    assert _Spy.seen == [spy, seq]
    assert _keras_compat.outermost_called_layer() is None


class _WithExtra(_keras_compat.KeepArgumentsInClones, keras.Model):
    def __init__(self, *args, extra=0, **kwargs):
        super().__init__(*args, **kwargs)
        if extra == 0:
            extra = (_keras_compat.clone_source_arguments(self.outputs) or {}).get("extra", 0)
        self.extra = extra

    def clone_arguments(self):
        return {"extra": self.extra}


@pytest.mark.parametrize("clone_function", [None, lambda layer: layer])
def test_clone_model_hands_the_source_arguments_to_the_clone(clone_function):
    inputs = keras.Input((3,))
    model = _WithExtra(inputs, keras.layers.Dense(2)(inputs), extra=7)
    clone = keras.models.clone_model(model, clone_function=clone_function)
    assert type(clone) is _WithExtra and clone.extra == 7
    # an unrelated model built afterwards does not inherit them
    other_in = keras.Input((3,))
    assert _WithExtra(other_in, keras.layers.Dense(2)(other_in)).extra == 0


def test_in_stateless_scope_tells_whether_a_stateless_scope_is_active():
    assert not _keras_compat.in_stateless_scope()
    with keras.StatelessScope():
        assert _keras_compat.in_stateless_scope()


def test_an_untracked_attribute_is_neither_tracked_nor_saved(tmp_path):
    import zipfile

    model = functional()
    other = functional()
    _keras_compat.set_untracked(model, "cache", {"other": other})
    assert _keras_compat.get_untracked(model, "cache")["other"] is other
    assert len(model.weights) == 2  # other's weights are not the model's
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        archive.extract("model.weights.h5", tmp_path)
    import h5py

    names = []
    with h5py.File(tmp_path / "model.weights.h5") as weights:
        weights.visit(names.append)
    assert not any("cache" in name for name in names), names


def test_the_mask_keras_attaches_is_read_and_set_and_its_losses_use_it():
    tokens = keras.ops.convert_to_tensor(np.array([[3, 4, 0], [5, 0, 0]], "int32"))
    embedded = keras.layers.Embedding(8, 2, mask_zero=True)(tokens)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(_keras_compat.get_mask(embedded)), [[True, True, False], [True, False, False]]
    )
    y_pred = keras.ops.convert_to_tensor(np.full((2, 3, 2), 0.5, "float32"))
    y_pred = y_pred * keras.ops.convert_to_tensor(np.array([[[1.0, 1.0]] * 3, [[1.6, 0.4]] * 3], "float32"))
    assert _keras_compat.get_mask(y_pred) is None
    _keras_compat.set_mask(y_pred, keras.ops.convert_to_tensor(np.array([[1, 0, 0], [1, 1, 0]], bool)))
    loss = keras.losses.SparseCategoricalCrossentropy()(np.zeros((2, 3), "int32"), y_pred)
    # the masked mean over the 3 valid positions: -log 0.5, -log 0.8, -log 0.8
    expected = -np.mean(np.log([0.5, 0.8, 0.8]))
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(loss)), expected, rtol=1e-5)


def test_process_local_rows_of_a_single_process_array_are_the_array():
    x = keras.ops.ones((4, 2))
    assert _keras_compat.process_local_rows(x) is x  # one process: untouched


def test_keras_predict_function_is_set_by_make_predict_function():
    # ProcessLocalPredictions wraps what make_predict_function leaves in predict_function
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    assert model.make_predict_function() is None or callable(model.predict_function)
    assert callable(model.predict_function)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="pins Keras's torch trainer: checked under torch")
def test_keras_torch_trainer_still_has_no_distribution():
    """Reports when Keras ships a torch distribution (its train_step on a DDP-wrapped model).

    Until then examples/torch_ddp.py is the torch multi-process path. Then
    MIMOModel.train_step must run Keras's step with the model's per-rank
    batch (`form_training_batch` already folds the rank into the seed) and
    under `stacked_rows()` around the wrapped model's call; docs/distributed.md
    and the example change with it.
    """
    import importlib.util
    import inspect

    installed_or_skip("torch", "Keras's torch trainer imports torch")
    from keras.src.backend.torch import trainer

    assert importlib.util.find_spec("keras.src.backend.torch.distribution_lib") is None
    assert "DistributedDataParallel" not in inspect.getsource(trainer)


class _Receiver(keras.layers.Layer):
    """Returns its input plus the `offset` a call-context argument handed it (0 without one)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        _keras_compat.pass_call_context_argument(self, "offset_arg")

    def call(self, x, offset_arg=None):
        return x + (0.0 if offset_arg is None else offset_arg)


def test_a_call_context_argument_reaches_a_layer_through_a_nested_model_built_before():
    inputs = keras.Input((3,))
    inner = keras.Model(inputs, _Receiver()(inputs), name="inner")  # already called: Keras's own register refuses
    outer_inputs = keras.Input((3,))
    outer = keras.Model(outer_inputs, inner(outer_inputs))
    _keras_compat.pass_call_context_argument(inner, "offset_arg")
    x = np.zeros((2, 3), "float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(outer(x)), 0.0)
    got = outer.call(keras.ops.convert_to_tensor(x), offset_arg=2.0)  # as MIMOModel.call hands it on
    np.testing.assert_allclose(keras.ops.convert_to_numpy(got), 2.0)


def test_a_tensor_attribute_travels_with_its_tensor_on_every_backend():
    tensor = keras.ops.ones((2, 3))
    assert _keras_compat.get_tensor_attribute(tensor, "_keras_mimo_probe") is None
    _keras_compat.set_tensor_attribute(tensor, "_keras_mimo_probe", "value")
    assert _keras_compat.get_tensor_attribute(tensor, "_keras_mimo_probe") == "value"
    assert _keras_compat.get_tensor_attribute(keras.ops.ones((2, 3)), "_keras_mimo_probe") is None
