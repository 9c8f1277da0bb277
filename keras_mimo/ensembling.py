"""How member outputs combine into the ensemble's output.

All functions take members on `axis` and compute in float32:

- `"mean"`: arithmetic mean. The right rule for probabilities (softmax or
  sigmoid heads: the ensemble's predictive distribution is the mean member
  distribution) and for regression outputs.
- `"softmax_logits"`: for heads emitting logits of a softmax. Returns the
  logits whose softmax is the mean member probability,
  `logsumexp_m(log_softmax(z_m)) - log M`, never the mean of the logits.
- `"sigmoid_logits"`: for heads emitting logits of independent sigmoids.
  Returns `log(p) - log(1 - p)` of the mean member probability `p`,
  computed from log-sigmoids without forming `p`.
"""

import math

from keras import ops

ENSEMBLE_METHODS = ("mean", "softmax_logits", "sigmoid_logits")


def combine_members(members, ensemble_method: str, axis: int = 1):
    """Combines member outputs into the ensemble output.

    Args:
        members: float tensor with the members on `axis`, for example
            `(batch, ensemble_size, units)` for `axis=1`.
        ensemble_method: one of `"mean"`, `"softmax_logits"`,
            `"sigmoid_logits"` (see the module docstring).
        axis: the member axis.

    Returns:
        float32 tensor: `members` without `axis`.
    """
    if ensemble_method not in ENSEMBLE_METHODS:
        raise ValueError(
            f"`ensemble_method` must be one of {ENSEMBLE_METHODS}. "
            f"Received: ensemble_method={ensemble_method!r}"
        )
    members = ops.cast(members, "float32")
    if ensemble_method == "mean":
        return ops.mean(members, axis=axis)
    log_size = math.log(ops.shape(members)[axis])
    if ensemble_method == "softmax_logits":
        log_probs = ops.log_softmax(members, axis=-1)
        return ops.logsumexp(log_probs, axis=axis) - log_size
    # sigmoid_logits: log(mean p) - log(mean(1 - p)); the log M cancels.
    log_p = ops.logsumexp(ops.log_sigmoid(members), axis=axis)
    log_not_p = ops.logsumexp(ops.log_sigmoid(-members), axis=axis)
    return log_p - log_not_p
