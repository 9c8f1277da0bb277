"""Bases of the layers keras-mimo adds on top of a model (wrappers' last layers, the ensemble layer).

Precision rule (one for the package): these layers compute in float32 under
any dtype policy (`mixed_bfloat16`, `mixed_float16`), as `MIMOHead` does: a
wrapper predicts what the numpy path computes from `predict`.
"""

import keras


class Float32Layer(keras.layers.Layer):
    """A layer that computes in float32 whatever the dtype policy.

    Under a mixed-precision policy a Keras layer casts its floating inputs
    to the policy's compute dtype (bfloat16 or float16); these layers read
    probabilities, log-probabilities and standard deviations that must keep
    float32 (as `MIMOHead`'s outputs do), so their dtype is always float32:
    a `dtype` argument (e.g. in the config of a file saved under a mixed
    policy) is ignored.
    """

    def __init__(self, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)


class OutputFormLayer(Float32Layer):
    """The last layer of a wrapper whose output keeps a form of the model it wraps.

    `keras_mimo.ensembles` reads a model ending in such a layer by the
    layer's `ensemble_method` (`TemperatureScaling`: the wrapped
    classifier's form; `StdScaling`: `"gaussian"`), not by guessing from its
    activation.
    """

    ensemble_method = None  # set by each subclass or instance: a keras_mimo.ensembles method
