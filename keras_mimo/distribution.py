"""Deprecated (until 0.3.0): the replica helpers are internal now (`keras_mimo._distribution`).

The name shadowed `keras.distribution`; `MIMOModel` calls these helpers
itself. `keras_mimo.distribution.<name>` still reads, with a
`DeprecationWarning`.
"""

from keras_mimo import _deprecation

__getattr__ = _deprecation.redirect(
    __name__, {name: f"keras_mimo._distribution.{name}" for name in ("data_shards", "replica_id", "replica_seed")}
)
