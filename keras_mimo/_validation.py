"""Argument checks shared by the layers and the model: one message style."""

import numbers


def check_ensemble_size(value, name: str = "ensemble_size") -> int:
    """Returns `value` if it is an int >= 1, else raises naming `name`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"`{name}` must be a positive int (the number of ensemble "
            f"members). Received: {name}={value!r} of type "
            f"{type(value).__name__}"
        )
    if value < 1:
        raise ValueError(
            f"`{name}` must be a positive int (the number of ensemble "
            f"members). Received: {name}={value}"
        )
    return int(value)


def check_probability(value, name: str) -> float:
    """Returns `value` as a float if it lies in [0, 1], else raises."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"`{name}` must be a float in [0, 1]. Received: {name}={value!r} "
            f"of type {type(value).__name__}"
        )
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(
            f"`{name}` must be a float in [0, 1]. Received: {name}={value}"
        )
    return float(value)


def check_positive_int(value, name: str) -> int:
    """Returns `value` if it is an int >= 1, else raises naming `name`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"`{name}` must be an int >= 1. Received: {name}={value!r} of "
            f"type {type(value).__name__}"
        )
    if value < 1:
        raise ValueError(f"`{name}` must be an int >= 1. Received: {name}={value}")
    return int(value)


def check_seed(value, name: str = "seed"):
    """Returns `value` as an int (Python or numpy integer) or None, else raises."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"`{name}` must be an int (Python or numpy integer) or None. "
            f"Received: {name}={value!r} of type {type(value).__name__}"
        )
    return int(value)


def check_mimo_arguments(input_repetition_probability, batch_repetitions, seed) -> tuple:
    """The checked training arguments of a MIMOModel, in this order."""
    return (
        check_probability(input_repetition_probability, "input_repetition_probability"),
        check_positive_int(batch_repetitions, "batch_repetitions"),
        check_seed(seed),
    )
