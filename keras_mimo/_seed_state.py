"""Saving a model's own shuffling state with its `.keras` file."""

from keras import ops

_KEY = "mimo_batch_seed_state"


class SavesBatchSeedState:
    """Mixin for a model with a `_batch_seed_generator` (a `SeedGenerator`).

    Keras saves layers' variables, not a seed generator held by the model
    itself; this stores its state next to them, so a loaded model resumes
    the same sequence of training batches.
    """

    def save_own_variables(self, store):
        super().save_own_variables(store)
        store[_KEY] = ops.convert_to_numpy(self._batch_seed_generator.state.value)

    def load_own_variables(self, store):
        keys = list(store.keys())
        if _KEY in keys:
            self._batch_seed_generator.state.assign(store[_KEY])
        super().load_own_variables({k: store[k] for k in keys if k != _KEY})
