"""Which row layout a MIMOModel's forward pass is in: the one mode mechanism.

Outside `stacked_rows(model)` a MIMOModel takes ordinary inputs `(N, ...)`,
feeds the same rows to every member and returns the ensemble output. Inside
it (training steps, `call_members`, `predict_members`) the model takes
example-major stacked rows `(N * M, ...)` and returns the members' stacked
outputs. The scope is read while a step function is traced (TF, JAX) or run
(torch), and is kept per thread: `tf.distribute.MirroredStrategy` traces each
replica in its own thread, and concurrent `predict` calls must not see each
other's mode. Nothing is stored on the model.

`inside_mimo_model()` says whether any MIMOModel's forward pass is running
in this thread: the MIMO layers refuse to run inside another model's call
(e.g. a `keras.Sequential`), which would feed them unstacked rows.

MixMo's member loss weights come from the training forward pass that drew
the mixing, and must reach that model's loss, never another's. They live
only inside `collecting_mixing_loss_weights()`, the scope of one training
step (`MIMOModel.train_step`) or of a custom loop (`MIMOModel.stacked_rows`):
a `MixMoInput` records into the innermost open scope, under the MIMOModel
whose forward pass it runs in, and `MIMOModel.compute_loss` reads its own
model's. A forward pass with no scope open (a stochastic `model(x,
training=True)`, Monte Carlo predictions) records nothing, and nothing
outlives the scope.
"""

import contextlib
import threading

import keras

from keras_mimo import _keras_compat

_state = threading.local()


def _depths() -> dict:
    if not hasattr(_state, "depths"):
        _state.depths = {}
    return _state.depths


@contextlib.contextmanager
def _counted(key):
    depths = _depths()
    depths[key] = depths.get(key, 0) + 1
    try:
        yield
    finally:
        depths[key] -= 1
        if not depths[key]:
            del depths[key]


def stacked_rows(model):
    """Within this scope `model` runs on example-major stacked rows."""
    return _counted(id(model))


def in_stacked_rows(model) -> bool:
    """Whether `model` currently runs on example-major stacked rows."""
    return id(model) in _depths()


@contextlib.contextmanager
def mimo_forward(model=None):
    """Marks `model`'s forward pass (entered by `MIMOModel.call`).

    Each forward pass has its own record of the stacked input masks
    (`record_input_mask`), restored when a nested pass ends. In an open
    `collecting_mixing_loss_weights()` scope the pass starts `model`'s
    entry afresh: its loss weights are those of its latest forward pass.
    """
    saved = getattr(_state, "input_masks", None)
    _state.input_masks = []
    collectors, models = _collectors(), _forward_models()
    if collectors and model is not None:
        collectors[-1].start_pass(model)
    models.append(model)
    try:
        with _counted("mimo_forward"):
            yield
    finally:
        models.pop()
        _state.input_masks = saved


def record_input_mask(mask):
    """Keeps a MIMOInput's stacked member masks `(N * M, ...)` for this forward pass."""
    if getattr(_state, "input_masks", None) is not None:
        _state.input_masks.append(mask)


def input_masks() -> list:
    """The stacked member masks recorded in this forward pass, in call order."""
    return list(getattr(_state, "input_masks", None) or [])


def inside_mimo_model() -> bool:
    """Whether a MIMOModel's forward pass is running in this thread."""
    return "mimo_forward" in _depths()


def check_called_by_mimo_model(layer):
    """Raises if `layer` runs inside a model that is not a MIMOModel.

    Calling a MIMO layer directly on stacked rows is allowed (that is its
    documented contract); running it inside a `keras.Sequential` or a plain
    functional `keras.Model` is not: those feed it ordinary rows, and it
    would silently fold the batch into members.
    """
    if inside_mimo_model():
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


def _forward_models() -> list:
    """The models whose forward passes are running in this thread, innermost last."""
    if not hasattr(_state, "forward_models"):
        _state.forward_models = []
    return _state.forward_models


def _collectors() -> list:
    """The open `collecting_mixing_loss_weights()` scopes of this thread, innermost last."""
    if not hasattr(_state, "loss_weight_collectors"):
        _state.loss_weight_collectors = []
    return _state.loss_weight_collectors


class MixingLossWeights:
    """One scope's MixMo member loss weights `(N, M)`, per model: those of its latest forward pass."""

    def __init__(self):
        self._weights = {}  # id(model) -> (model, weights or None)

    def start_pass(self, model):
        self._weights[id(model)] = (model, None)

    def record(self, model, weights):
        self._weights[id(model)] = (model, weights)

    def of(self, model):
        """`model`'s weights, or None (no training forward pass of it through a mixing input here)."""
        entry = self._weights.get(id(model))
        return entry[1] if entry is not None and entry[0] is model else None

    def __contains__(self, model):
        entry = self._weights.get(id(model))
        return entry is not None and entry[0] is model


@contextlib.contextmanager
def collecting_mixing_loss_weights():
    """Opens a scope that collects the MixMo loss weights of the forward passes run inside it.

    Entered around one training step (forward pass and loss) or a custom
    loop's `stacked_rows()`; yields its `MixingLossWeights`, dropped on exit.
    """
    collectors = _collectors()
    collector = MixingLossWeights()
    collectors.append(collector)
    try:
        yield collector
    finally:
        collectors.remove(collector)


def record_loss_weights(weights):
    """Records a mixing input's member loss weights `(N, M)` for the MIMOModel whose forward pass runs it.

    Into the innermost open `collecting_mixing_loss_weights()` scope; with
    none open, or outside a MIMOModel's forward pass (a direct layer call),
    nothing is kept.
    """
    collectors, models = _collectors(), _forward_models()
    if collectors and models and models[-1] is not None:
        collectors[-1].record(models[-1], weights)


def mixing_loss_weights(model):
    """`model`'s member loss weights from its latest forward pass in the innermost scope that saw it, or None."""
    for collector in reversed(_collectors()):
        if model in collector:
            return collector.of(model)
    return None
