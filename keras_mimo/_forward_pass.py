"""One MIMOModel forward pass: what its MIMO layers hand each other and the loss, through the graph.

`MIMOModel.call` makes a `ForwardPass` and hands it to the MIMO layers of
its graph (nested models and blocks included) as the Keras call-context
argument `mimo_pass`, Keras's own mechanism for `training`:

- each `MIMOInput` records the stacked member masks `(N * M, ...)` of its
  input, and each `MIMOHead` gives every member its own mask back;
- a `MixMoInput` in training records its member loss weights `(N, M)`; the
  model attaches them to its outputs (a tensor attribute, as Keras attaches
  masks), where `MIMOModel.compute_loss` reads them.

The record lives as long as the call and its output tensors: nothing is
kept on a module, a thread or a layer, so nothing reaches another model's
step or a later call. A MIMO layer that runs without a `mimo_pass` inside
another model's call (e.g. a `keras.Sequential`) refuses to: that model
feeds it ordinary rows.

Which rows a MIMOModel's call takes is a mode, not a value: outside
`stacked_rows(model)` ordinary inputs `(N, ...)`, fed to every member and
combined; inside it (training steps, `call_members`, custom loops)
example-major stacked rows `(N * M, ...)` and the members' stacked outputs.
The scope is entered around the call by the step function and read when the
call is traced (TF, JAX) or run (torch); it is kept per thread, because
`tf.distribute.MirroredStrategy` traces each replica in its own thread and
concurrent `predict` calls must not see each other's mode.
"""

import contextlib
import threading

import keras

from keras_mimo import _keras_compat

ARGUMENT = "mimo_pass"
_LOSS_WEIGHTS = "_keras_mimo_loss_weights"


class ForwardPass:
    """The record of one MIMOModel forward pass (see the module): masks and MixMo loss weights."""

    def __init__(self):
        self.input_masks = []  # stacked member masks (N * M, ...), in call order
        self.loss_weights = None  # MixMo member loss weights (N, M) of this pass, or None

    def record_input_mask(self, mask):
        self.input_masks.append(mask)

    def record_loss_weights(self, weights):
        self.loss_weights = weights


def attach_loss_weights(outputs, weights):
    """Attaches a pass's MixMo loss weights `(N, M)` to each of its output tensors (None: nothing)."""
    if weights is not None:
        for tensor in keras.tree.flatten(outputs):
            _keras_compat.set_tensor_attribute(tensor, _LOSS_WEIGHTS, weights)


def loss_weights(y_pred):
    """The MixMo loss weights attached to the outputs `y_pred` of a training pass, or None."""
    for tensor in keras.tree.flatten(y_pred):
        weights = _keras_compat.get_tensor_attribute(tensor, _LOSS_WEIGHTS)
        if weights is not None:
            return weights
    return None


def check_called_by_mimo_model(layer, mimo_pass):
    """Raises if `layer` runs inside a model that is not a MIMOModel (no `mimo_pass` reached it).

    Calling a MIMO layer directly on stacked rows is allowed (that is its
    documented contract); running it inside a `keras.Sequential` or a plain
    functional `keras.Model` is not: those feed it ordinary rows, and it
    would silently fold the batch into members.
    """
    if mimo_pass is not None:
        return
    outer = _keras_compat.outermost_called_layer()
    # On JAX, fit/predict run a model's `call` inside a stateless scope
    # without its `__call__`, so the outermost layer is the first sublayer.
    in_model = isinstance(outer, keras.Model) or (
        keras.backend.backend() == "jax" and _keras_compat.in_stateless_scope()
    )
    if in_model:
        where = f" (inside {type(outer).__name__} {outer.name!r})" if isinstance(outer, keras.Model) else ""
        raise ValueError(
            f"{type(layer).__name__} layer {layer.name!r} runs outside a "
            f"keras_mimo.MIMOModel{where}: it would fold the batch into "
            "ensemble members and return wrong rows. Build the model with "
            "`keras_mimo.MIMOModel(model.inputs, model.outputs)` (for a "
            "Sequential `seq`: `keras_mimo.MIMOModel(seq.inputs, seq.outputs)`)."
            + (
                " On JAX, rebuild the layers first: Keras leaves a model's "
                "variables empty after an error inside a compiled step."
                if keras.backend.backend() == "jax"
                else ""
            )
        )


_mode = threading.local()


def _models_on_stacked_rows() -> dict:
    if not hasattr(_mode, "depths"):
        _mode.depths = {}
    return _mode.depths


@contextlib.contextmanager
def stacked_rows(model):
    """Within this scope `model`'s calls in this thread take example-major stacked rows."""
    depths = _models_on_stacked_rows()
    depths[id(model)] = depths.get(id(model), 0) + 1
    try:
        yield
    finally:
        depths[id(model)] -= 1
        if not depths[id(model)]:
            del depths[id(model)]


def in_stacked_rows(model) -> bool:
    """Whether `model` runs on example-major stacked rows in this thread."""
    return id(model) in _models_on_stacked_rows()
