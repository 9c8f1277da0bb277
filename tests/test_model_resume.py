"""An interrupted fit resumed with BackupAndRestore ends where an uninterrupted one does."""

import keras
import numpy as np
import pytest


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt


def _train(mlp_mimo, x, y, backup_dir, callbacks=()):
    keras.utils.set_random_seed(0)
    model = mlp_mimo(ensemble_size=2, batch_repetitions=2, seed=3)
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9), "sparse_categorical_crossentropy")
    model.fit(
        x,
        y,
        batch_size=16,
        epochs=4,
        shuffle=False,
        verbose=0,
        callbacks=[keras.callbacks.BackupAndRestore(str(backup_dir))] + list(callbacks),
    )
    return model


def test_resumed_run_ends_with_the_same_weights(mlp_mimo, readable_data, tmp_path):
    x, y = readable_data(64)
    reference = _train(mlp_mimo, x, y, tmp_path / "a")
    with pytest.raises(KeyboardInterrupt):
        _train(mlp_mimo, x, y, tmp_path / "b", callbacks=[_Interrupt()])
    resumed = _train(mlp_mimo, x, y, tmp_path / "b")  # continues from epoch 2
    for a, b in zip(reference.weights, resumed.weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), rtol=1e-5, atol=1e-6)
    # the shuffling state is part of what was restored
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(reference._batch_seed_generator.state.value),
        keras.ops.convert_to_numpy(resumed._batch_seed_generator.state.value),
    )
