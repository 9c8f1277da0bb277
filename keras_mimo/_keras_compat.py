"""Every use of a private Keras attribute, in one place.

keras-mimo relies on public Keras APIs except for the hooks below. Each
one has a test in `tests/test_keras_compat.py` that fails loudly when a Keras
release changes it; pyproject.toml lists them next to the Keras pin.

- `Model._compile_loss`: the loss object `compile()` builds, called once per
  member to sum the members' losses.
- `KerasTensor._keras_history` and `Operation._inbound_nodes`: which layer
  call produced a symbolic tensor, and from which inputs (`convert()` finds
  the final Dense layers; the graph check walks from heads to inputs).
- `Functional._inputs_struct`: present on functional (graph) models only.
- The `.keras` writer's walk over attributes skips names starting with
  "__" (`saving_lib._walk_saveable`): objects a model caches for itself are
  stored under such names (`set_untracked`).
- `Function._run_through_graph`: the step of `keras.models.clone_model` that
  computes the clone's outputs just before it calls `cls(inputs, outputs,
  name=...)`, dropping the other constructor arguments.
- The layer call context (`keras.src.backend.common.global_state`,
  `"current_call_ctx"`): which layer's `__call__` is the outermost one; and
  `keras.src.backend.common.stateless_scope.in_stateless_scope`.
- `keras.src.backend.get_keras_mask` / `set_keras_mask`: the mask Keras
  attaches to a tensor (its losses and metrics read it from `y_pred`); the
  model re-attaches it to each member's slice and to the ensemble output.
- `Trainer.make_predict_function` / `predict_function` (JAX trainer): the
  step `predict` calls per batch; wrapped so that with several JAX
  processes each process's `predict` returns the rows of its own input
  (Keras 3.15's `predict` fails there for every model: it converts arrays
  spanning other processes' devices to numpy).
"""

import threading

import keras

__all__ = [
    "KeepArgumentsInClones",
    "ProcessLocalPredictions",
    "clone_source_arguments",
    "compiled_loss",
    "get_mask",
    "is_graph_model",
    "layer_inputs",
    "in_stateless_scope",
    "outermost_called_layer",
    "producer_inputs",
    "producing_layer",
    "get_untracked",
    "set_mask",
    "set_untracked",
]


def get_mask(tensor):
    """The Keras mask attached to `tensor`, or None."""
    from keras.src import backend

    return backend.get_keras_mask(tensor)


def set_mask(tensor, mask):
    """Attaches `mask` to `tensor` as Keras's losses and metrics read it."""
    from keras.src import backend

    backend.set_keras_mask(tensor, mask)


def compiled_loss(model):
    """The callable loss `compile()` built, `(y, y_pred, sample_weight)`, or None."""
    return model._compile_loss


def producing_layer(tensor):
    """The layer (operation) that produced the symbolic `tensor`."""
    return tensor._keras_history.operation


def producing_layer_or_none(tensor):
    """`producing_layer`, or None for a tensor without a Keras history (e.g. a subclassed model's)."""
    history = getattr(tensor, "_keras_history", None)
    return history.operation if history else None


def is_graph_model(model) -> bool:
    """Whether `model` is a functional or Sequential model (has a graph)."""
    return isinstance(model, keras.Sequential) or hasattr(model, "_inputs_struct")


def pass_call_context_argument(layer, name: str):
    """Makes Keras hand the call-context argument `name` to `layer`, and through it to its sublayers.

    Keras's mechanism for `training`: a model calls its layers with
    `name=value`; each layer that registered `name` gets it in its `call` if
    its signature takes it, and passes it on to the layers it calls (a
    nested model, a subclassed block). Registered here directly, because
    Keras's `_register_call_context_args` refuses a layer already called
    (a nested model inside a built graph).
    """
    layer._call_context_args = set(layer._call_context_args) | {name}
    layer._call_has_context_arg[name] = name in layer.call_signature_parameters


def set_tensor_attribute(tensor, name: str, value):
    """Attaches `value` to `tensor` as Keras attaches masks (an attribute, or Keras's table for JAX arrays)."""
    from keras.src.backend.common import tensor_attributes

    tensor_attributes.set_tensor_attr(tensor, name, value)


def get_tensor_attribute(tensor, name: str):
    """The value `set_tensor_attribute` attached to `tensor`, or None."""
    from keras.src.backend.common import tensor_attributes

    return tensor_attributes.get_tensor_attr(tensor, name)


def outermost_called_layer():
    """The layer whose `__call__` started the current call stack, or None."""
    from keras.src.backend.common import global_state

    context = global_state.get_global_attribute("current_call_ctx")
    return None if context is None else context.entry_layer


def set_untracked(obj, name: str, value):
    """Sets `obj.<"__" + name>` = `value` out of Keras's sight.

    Keras neither tracks it (it goes around `Layer.__setattr__`) nor saves it
    (the `.keras` writer skips attributes whose names start with "__").
    """
    object.__setattr__(obj, f"__{name}", value)


def get_untracked(obj, name: str, default=None):
    """The value `set_untracked(obj, name, ...)` stored, or `default`."""
    return obj.__dict__.get(f"__{name}", default)


def in_stateless_scope() -> bool:
    """Whether a `keras.StatelessScope` is active (JAX runs fit/predict in one)."""
    from keras.src.backend.common.stateless_scope import in_stateless_scope as active

    return active()


_pending_clone = threading.local()


class KeepArgumentsInClones:
    """Mixin for a functional `keras.Model` subclass with extra arguments.

    `keras.models.clone_model` rebuilds such a model as
    `cls(inputs, outputs, name=...)`, so its other constructor arguments fall
    back to their defaults. Keras computes the clone's outputs with
    `_run_through_graph` just before that call: this hook remembers the
    source's `clone_arguments()` for those outputs, and the subclass's
    `__init__` takes them back with `clone_source_arguments(outputs)`.
    """

    def clone_arguments(self) -> dict:
        """The constructor arguments a clone of this model keeps."""
        raise NotImplementedError

    def _run_through_graph(self, inputs, operation_fn=None, call_fn=None):
        if operation_fn is None:
            outputs = super()._run_through_graph(inputs, call_fn=call_fn)
        else:
            outputs = super()._run_through_graph(inputs, operation_fn, call_fn=call_fn)
        flat = keras.tree.flatten(outputs)
        if flat and all(isinstance(t, keras.KerasTensor) for t in flat):
            _pending_clone.value = (flat, self.clone_arguments())
        return outputs


def clone_source_arguments(outputs) -> dict | None:
    """The arguments of the model these symbolic `outputs` were cloned from."""
    pending = getattr(_pending_clone, "value", None)
    if pending is None:
        return None
    flat = keras.tree.flatten(outputs)
    if len(flat) != len(pending[0]) or any(a is not b for a, b in zip(flat, pending[0])):
        return None
    _pending_clone.value = None
    return pending[1]


def _data_inputs(node) -> list:
    """A node's symbolic inputs, without the masks Keras passes as `*mask` keywords."""
    kwargs = {k: v for k, v in node.arguments.kwargs.items() if not k.endswith("mask")}
    flat = keras.tree.flatten((node.arguments.args, kwargs))
    return [t for t in flat if isinstance(t, keras.KerasTensor)]


def producer_inputs(tensor) -> list:
    """The data inputs (not masks) of the layer call that produced `tensor`."""
    operation, node_index, _ = tensor._keras_history
    return _data_inputs(operation._inbound_nodes[node_index])


def layer_inputs(layer) -> list:
    """The data inputs (not masks) of every call of `layer` in a graph."""
    return [t for node in layer._inbound_nodes for t in _data_inputs(node)]


def process_local_rows(array):
    """The rows of a global JAX array held by this process's devices, as numpy."""
    if getattr(array, "is_fully_addressable", True):
        return array
    import numpy as np

    shards = {}
    for shard in array.addressable_shards:  # replicas of one block appear once
        shards.setdefault(shard.index[0].start or 0, shard.data)
    return np.concatenate([np.asarray(shards[start]) for start in sorted(shards)])


class ProcessLocalPredictions:
    """`predict` under several JAX processes: each process gets its own rows.

    Each process feeds its own shard of the inputs (as in `fit`); its
    `predict` returns the predictions of those rows. One process alone,
    other backends: unchanged.
    """

    def make_predict_function(self, force=False):
        super().make_predict_function(force)
        function = self.predict_function
        if keras.backend.backend() != "jax" or getattr(function, "_keras_mimo_local", False):
            return function
        import jax

        if jax.process_count() == 1:
            return function

        def local_predict(state, iterator):
            outputs, state = function(state, iterator)
            return keras.tree.map_structure(process_local_rows, outputs), state

        local_predict._keras_mimo_local = True
        self.predict_function = local_predict
        return local_predict
