"""Registration of keras_mimo objects for `.keras` saving."""

import keras

PACKAGE = "keras_mimo"


def register(obj=None, *, name: str | None = None):
    """Registers `obj` under the `keras_mimo>` prefix so `load_model` finds it.

    `name` (default: the class name) tells apart classes of the same name in
    different modules, e.g. the loss and the metric `GaussianNLL`.
    """
    if obj is None:
        return lambda cls: register(cls, name=name)
    return keras.saving.register_keras_serializable(package=PACKAGE, name=name)(obj)
