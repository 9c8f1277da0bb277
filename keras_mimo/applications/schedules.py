"""`WarmUpStepDecay`: the MIMO reference learning-rate schedule."""

import keras
from keras import ops

from keras_mimo._serialization import register
from keras_mimo._validation import check_count
from keras_mimo._validation import check_float


@register
class WarmUpStepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up, then the rate times `decay_ratio` at each boundary.

    `lr(step) = base * min(1, (step + 1) / warmup_steps) * decay_ratio ** k`,
    with `k` the number of `decay_steps` boundaries passed. The reference
    CIFAR recipe: 1 warm-up epoch, x0.2 at epochs 100, 200, 225 of 250.

    Args:
        base_learning_rate: float > 0, the rate after warm-up.
        warmup_steps: int >= 0.
        decay_steps: increasing step boundaries, ints >= 0.
        decay_ratio: float multiplier at each boundary, > 0.

    Python and numpy numbers are accepted; other values raise a
    `ValueError` / `TypeError` naming the argument.
    """

    def __init__(self, base_learning_rate, warmup_steps, decay_steps, decay_ratio=0.2):
        self.base_learning_rate = check_float(base_learning_rate, "base_learning_rate", low=0.0)
        self.warmup_steps = check_count(warmup_steps, "warmup_steps", minimum=0)
        if isinstance(decay_steps, (str, bytes)) or not hasattr(decay_steps, "__iter__"):
            raise TypeError(f"WarmUpStepDecay: `decay_steps` must be a sequence of ints. Received: {decay_steps!r}")
        self.decay_steps = [check_count(s, "decay_steps", minimum=0) for s in decay_steps]
        if self.decay_steps != sorted(self.decay_steps):
            raise ValueError(f"`decay_steps` must increase. Received: {decay_steps}")
        self.decay_ratio = check_float(decay_ratio, "decay_ratio", low=0.0)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = ops.minimum(1.0, (step + 1.0) / max(self.warmup_steps, 1))
        passed = sum(ops.cast(step >= s, "float32") for s in self.decay_steps)
        return self.base_learning_rate * warmup * ops.power(self.decay_ratio, passed)

    def get_config(self):
        return {
            "base_learning_rate": self.base_learning_rate,
            "warmup_steps": self.warmup_steps,
            "decay_steps": self.decay_steps,
            "decay_ratio": self.decay_ratio,
        }
