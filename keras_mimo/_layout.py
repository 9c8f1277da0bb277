"""Which row layout a MIMOModel's forward pass is in.

Outside these scopes a MIMOModel takes ordinary inputs `(N, ...)`, feeds the
same rows to every member and returns the ensemble output. Inside
`stacked_rows(model)` it takes member-major stacked rows `(M * N, ...)` and
returns the members' stacked outputs. The scope is read while a step function
is traced (TF, JAX) or run (torch), and kept per thread because
`tf.distribute.MirroredStrategy` traces each replica in its own thread.
"""

import contextlib
import threading

_state = threading.local()


def _depths() -> dict:
    if not hasattr(_state, "depths"):
        _state.depths = {}
    return _state.depths


@contextlib.contextmanager
def stacked_rows(model):
    """Within this scope `model` runs on member-major stacked rows."""
    depths = _depths()
    depths[id(model)] = depths.get(id(model), 0) + 1
    try:
        yield
    finally:
        depths[id(model)] -= 1
        if not depths[id(model)]:
            del depths[id(model)]


def in_stacked_rows(model) -> bool:
    """Whether `model` currently runs on member-major stacked rows."""
    return id(model) in _depths()
