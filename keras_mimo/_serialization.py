"""Registration of keras_mimo objects for `.keras` saving."""

import keras

PACKAGE = "keras_mimo"


def register(obj):
    """Registers `obj` under the `keras_mimo>` prefix so `load_model` finds it."""
    return keras.saving.register_keras_serializable(package=PACKAGE)(obj)
