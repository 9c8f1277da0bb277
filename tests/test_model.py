import keras
import numpy as np
import pytest

import keras_mimo

BACKEND = keras.backend.backend()


def sparse_nll(probs, y):
    return -np.log(probs[np.arange(len(y)), y])


# -- construction --------------------------------------------------------


def test_ensemble_size_is_a_read_only_property(mlp_mimo):
    model = mlp_mimo(ensemble_size=3)
    assert model.ensemble_size == 3
    with pytest.raises(AttributeError):
        model.ensemble_size = 2


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(input_repetition_probability=1.2), ValueError, "input_repetition_probability"),
        (dict(input_repetition_probability="0.5"), TypeError, "input_repetition_probability"),
        (dict(batch_repetitions=0), ValueError, "batch_repetitions"),
        (dict(seed=1.5), TypeError, "seed"),
    ],
)
def test_bad_mimo_arguments_are_rejected(mlp_mimo, kwargs, error, match):
    with pytest.raises(error, match=match):
        mlp_mimo(**kwargs)


def test_mismatched_ensemble_sizes_are_rejected():
    inputs = keras.Input((4,))
    x = keras_mimo.MIMOInput(2)(inputs)
    outputs = keras_mimo.MIMOHead(3, 3, activation="softmax")(x)
    with pytest.raises(ValueError, match=r"MIMOInput .*\(ensemble_size=2\).*MIMOHead .*\(ensemble_size=3\)"):
        keras_mimo.MIMOModel(inputs, outputs)


def test_missing_mimo_input_is_rejected():
    inputs = keras.Input((4,))
    outputs = keras_mimo.MIMOHead(3, 2, activation="softmax")(inputs)
    with pytest.raises(ValueError, match=r"needs a MIMOInput.*MIMOInput\(ensemble_size\)"):
        keras_mimo.MIMOModel(inputs, outputs)


def test_missing_mimo_head_is_rejected():
    inputs = keras.Input((4,))
    x = keras_mimo.MIMOInput(2)(inputs)
    outputs = keras.layers.Dense(3)(x)
    with pytest.raises(ValueError, match=r"needs a MIMOHead"):
        keras_mimo.MIMOModel(inputs, outputs)


def test_layers_after_the_head_are_rejected():
    inputs = keras.Input((4,))
    x = keras_mimo.MIMOInput(2)(inputs)
    x = keras_mimo.MIMOHead(3, 2)(x)
    outputs = keras.layers.Softmax()(x)
    with pytest.raises(ValueError, match=r"must be a MIMOHead's output.*Softmax layer"):
        keras_mimo.MIMOModel(inputs, outputs)


def test_subclassed_construction_is_rejected():
    with pytest.raises(TypeError, match="functional graph"):
        keras_mimo.MIMOModel()


def test_sequential_converts_with_the_two_layers():
    seq = keras.Sequential(
        [
            keras.Input((4,)),
            keras_mimo.MIMOInput(3),
            keras.layers.Dense(8, activation="relu"),
            keras_mimo.MIMOHead(2, 3, activation="softmax"),
        ]
    )
    model = keras_mimo.MIMOModel(seq.inputs, seq.outputs)
    assert model.ensemble_size == 3
    assert model.predict(np.zeros((5, 4)), verbose=0).shape == (5, 2)


# -- training batches and loss ------------------------------------------


def test_training_batch_gathers_x_y_and_weights_with_the_same_indices(mlp_mimo):
    model = mlp_mimo(ensemble_size=3, batch_repetitions=2, input_repetition_probability=0.5, seed=4)
    ids = np.arange(8, dtype="float32")
    x = np.stack([ids] * 4, axis=1)
    data = model.form_training_batch((x, ids.astype("int32"), ids * 10))
    sx, sy, sw = (keras.ops.convert_to_numpy(t) for t in data)
    assert sx.shape == (3 * 2 * 8, 4)
    np.testing.assert_array_equal(sx[:, 0], sy)
    np.testing.assert_array_equal(sw, sy * 10)
    members = sy.reshape(16, 3).T  # example-major rows: member m's are [m::3]
    for member in members:  # each example twice per member
        np.testing.assert_array_equal(np.bincount(member, minlength=8), 2)
    np.testing.assert_array_equal(members[0, 8:], members[1, 8:])  # shared tail (rho=0.5)


def test_same_seed_same_batches_and_each_step_differs(mlp_mimo):
    x = np.arange(16, dtype="float32").reshape(16, 1) * np.ones((1, 4), "float32")
    first = [keras.ops.convert_to_numpy(mlp_mimo(seed=9).form_training_batch(x)) for _ in range(2)]
    np.testing.assert_array_equal(first[0], first[1])
    model = mlp_mimo(seed=9)
    a = keras.ops.convert_to_numpy(model.form_training_batch(x))
    b = keras.ops.convert_to_numpy(model.form_training_batch(x))
    assert not np.array_equal(a, b)


def test_fit_advances_the_seed_state(mlp_mimo, readable_data):
    x, y = readable_data(64)
    model = mlp_mimo(seed=1)
    model.compile("sgd", "sparse_categorical_crossentropy")
    seed_var = model._batch_seed_generator.state
    before = keras.ops.convert_to_numpy(seed_var.value).copy()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    after = keras.ops.convert_to_numpy(seed_var.value)
    assert not np.array_equal(before, after)


@pytest.mark.parametrize("ensemble_size", [1, 2, 3])
def test_training_loss_is_the_sum_of_member_losses(mlp_mimo, readable_data, ensemble_size):
    # rho=1 gives every member the same rows, so the expected loss can be
    # computed from predict_members: sum_m mean_i NLL_m(i) + L2 once.
    x, y = readable_data(32)
    model = mlp_mimo(ensemble_size=ensemble_size, input_repetition_probability=1.0, seed=0)
    model.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy")
    loss = model.train_on_batch(x, y)
    members = model.predict_members(x, verbose=0)
    expected = sum(sparse_nll(members[:, m], y).mean() for m in range(ensemble_size))
    np.testing.assert_allclose(loss, expected, rtol=1e-4)


def test_regularization_is_added_once_not_per_member(readable_data):
    x, y = readable_data(32)
    inputs = keras.Input((4,))
    h = keras_mimo.MIMOInput(3)(inputs)
    h = keras.layers.Dense(8, activation="relu", kernel_regularizer=keras.regularizers.L2(0.1))(h)
    outputs = keras_mimo.MIMOHead(4, 3, activation="softmax")(h)
    model = keras_mimo.MIMOModel(inputs, outputs, input_repetition_probability=1.0)
    model.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy")
    loss = model.train_on_batch(x, y)
    members = model.predict_members(x, verbose=0)
    kernel = keras.ops.convert_to_numpy(model.layers[2].kernel)
    expected = sum(sparse_nll(members[:, m], y).mean() for m in range(3)) + 0.1 * np.sum(kernel**2)
    np.testing.assert_allclose(loss, expected, rtol=1e-4)


def test_sample_weights_follow_their_rows(mlp_mimo, readable_data):
    x, y = readable_data(32)
    model = mlp_mimo(ensemble_size=2, input_repetition_probability=1.0)
    model.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy")
    w = np.linspace(0, 2, 32).astype("float32")
    loss = model.train_on_batch(x, y, sample_weight=w)
    members = model.predict_members(x, verbose=0)
    expected = sum((w * sparse_nll(members[:, m], y)).mean() for m in range(2))
    np.testing.assert_allclose(loss, expected, rtol=1e-4)


# -- inference -----------------------------------------------------------


def test_predict_is_the_mean_member_probability_in_one_pass(cnn_mimo, image_data):
    x, _ = image_data
    model = cnn_mimo()
    probs = model.predict(x, verbose=0)
    members = model.predict_members(x, verbose=0)
    assert probs.shape == (40, 5) and members.shape == (40, 3, 5)
    np.testing.assert_allclose(probs, members.mean(1), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), probs, rtol=1e-5, atol=1e-7)


def test_logits_head_returns_log_mean_exp_logits(readable_data):
    x, _ = readable_data(16)
    inputs = keras.Input((4,))
    h = keras_mimo.MIMOInput(3)(inputs)
    outputs = keras_mimo.MIMOHead(4, 3)(keras.layers.Dense(8, activation="relu")(h))
    model = keras_mimo.MIMOModel(inputs, outputs)
    logits = model.predict(x, verbose=0)
    members = model.predict_members(x, verbose=0)
    softmax = lambda z: np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    np.testing.assert_allclose(softmax(logits), softmax(members).mean(1), rtol=1e-5)


def test_regression_head_averages(readable_data):
    x, _ = readable_data(16)
    inputs = keras.Input((4,))
    h = keras_mimo.MIMOInput(2)(inputs)
    outputs = keras_mimo.MIMOHead(1, 2, ensemble_method="mean")(h)
    model = keras_mimo.MIMOModel(inputs, outputs)
    np.testing.assert_allclose(model.predict(x, verbose=0), model.predict_members(x, verbose=0).mean(1), rtol=1e-5)


def test_evaluate_scores_the_ensemble(cnn_mimo, image_data):
    x, y = image_data
    model = cnn_mimo()
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    loss, acc = model.evaluate(x, y, batch_size=16, verbose=0)
    probs = model.predict(x, verbose=0)
    np.testing.assert_allclose(loss, sparse_nll(probs, y).mean(), rtol=1e-4)
    np.testing.assert_allclose(acc, np.mean(probs.argmax(1) == y), atol=1e-6)


def test_members_learn_their_own_inputs_labels(mlp_mimo, readable_data):
    # Member m must predict the label of ITS input x[:, m], not a neighbour's.
    x, y = readable_data(1024)
    model = mlp_mimo(ensemble_size=2, hidden=64, seed=0, batch_repetitions=2)
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=64, epochs=8, verbose=0)
    xa, ya = readable_data(256, seed=1)
    shift = np.roll(np.arange(256), 1)
    pairs = np.stack([xa, xa[shift]], axis=1)  # member 1 sees another example
    members = model.predict_members(pairs, verbose=0)
    labels_b = ya[shift]
    assert np.mean(ya != labels_b) > 0.6
    assert np.mean(members[:, 0].argmax(-1) == ya) > 0.95
    assert np.mean(members[:, 1].argmax(-1) == labels_b) > 0.95


@pytest.mark.parametrize("shape", [(5, 3), (5, 4, 4), (5, 2, 3)])
def test_predict_members_rejects_other_shapes(mlp_mimo, shape):
    model = mlp_mimo(ensemble_size=3)
    with pytest.raises(ValueError, match=r"\(N, 3, 4\)"):
        model.predict_members(np.zeros(shape, "float32"), verbose=0)


def test_wrong_input_shape_says_what_was_expected(mlp_mimo):
    model = mlp_mimo()
    with pytest.raises(ValueError, match=r"(?s)expected.*shape.*\(None, 4\).*\(5, 7\)"):
        model.predict(np.zeros((5, 7), "float32"), verbose=0)


# -- data formats, callbacks and compilation -----------------------------


class _Sequence(keras.utils.PyDataset):
    def __init__(self, x, y, batch_size):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self):
        return int(np.ceil(len(self.x) / self.batch_size))

    def __getitem__(self, i):
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[s], self.y[s]


def _fit_kinds():
    kinds = ["numpy", "pydataset"]
    if BACKEND == "tensorflow":
        kinds.append("tf_data")
    return kinds


@pytest.mark.parametrize("kind", _fit_kinds())
def test_fit_accepts_common_data_inputs_with_partial_last_batch(cnn_mimo, image_data, kind):
    x, y = image_data  # 40 rows, batch 16: the last batch has 8
    model = cnn_mimo(batch_repetitions=2)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    if kind == "numpy":
        history = model.fit(x, y, batch_size=16, epochs=2, validation_data=(x, y), verbose=0)
    elif kind == "pydataset":
        history = model.fit(_Sequence(x, y, 16), epochs=2, validation_data=_Sequence(x, y, 16), verbose=0)
    else:
        import tensorflow as tf

        ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
        history = model.fit(ds, epochs=2, validation_data=ds, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert "val_accuracy" in history.history


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("steps_per_execution", [1, 3])
def test_fit_with_jit_and_steps_per_execution(cnn_mimo, image_data, jit_compile, steps_per_execution):
    if BACKEND == "torch" and jit_compile:
        pytest.skip("jit_compile on torch is torch.compile, too slow for CPU CI")
    if BACKEND == "torch" and steps_per_execution > 1:
        pytest.skip("Keras requires steps_per_execution=1 on the torch backend")
    x, y = image_data
    model = cnn_mimo(batch_repetitions=2, seed=0)
    model.compile(
        "adam",
        "sparse_categorical_crossentropy",
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    # one epoch of 5 steps: with steps_per_execution=3, one full and one partial execution
    history = model.fit(x, y, batch_size=8, epochs=1, sample_weight=np.ones(40), verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


@pytest.mark.large(backends=("torch",))
@pytest.mark.skipif(BACKEND != "torch", reason="jit_compile=True is torch.compile on the torch backend only")
def test_torch_compiled_step_trains_like_the_eager_step():
    """`jit_compile=True` (torch.compile) against eager: same losses and weights.

    Tolerance: 1e-5 relative on the losses, 1e-5 absolute on weights of
    order 1 (float32, fused kernels may reorder sums). Full batches only:
    a partial last batch makes torch.compile compile the step again for its
    shape (about a minute here).
    """
    x = np.random.default_rng(0).random((40, 4)).astype("float32")
    y = np.arange(40) % 3
    runs = {}
    for jit_compile in (False, True):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((4,))
        h = keras.layers.Dense(16, activation="relu")(keras_mimo.MIMOInput(2)(inputs))
        outputs = keras_mimo.MIMOHead(3, 2, activation="softmax")(h)
        model = keras_mimo.MIMOModel(inputs, outputs, batch_repetitions=2, input_repetition_probability=0.25, seed=7)
        rng = np.random.default_rng(1)
        model.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in model.get_weights()])
        model.compile(
            keras.optimizers.SGD(0.1, momentum=0.9),
            "sparse_categorical_crossentropy",
            metrics=["accuracy"],
            jit_compile=jit_compile,
        )
        history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
        assert model.jit_compile is jit_compile
        runs[jit_compile] = history.history["loss"], model.get_weights()
    (eager_loss, eager_weights), (compiled_loss, compiled_weights) = runs[False], runs[True]
    assert eager_loss[-1] < eager_loss[0]  # it trained
    np.testing.assert_allclose(compiled_loss, eager_loss, rtol=1e-5)
    for compiled, eager in zip(compiled_weights, eager_weights):
        np.testing.assert_allclose(compiled, eager, atol=1e-5)


def test_callbacks_checkpoint_early_stopping_and_backup(cnn_mimo, image_data, tmp_path):
    x, y = image_data
    model = cnn_mimo()
    model.compile("adam", "sparse_categorical_crossentropy")
    callbacks = [
        keras.callbacks.ModelCheckpoint(str(tmp_path / "best.keras"), save_best_only=True),
        keras.callbacks.EarlyStopping(patience=1, monitor="loss"),
        keras.callbacks.BackupAndRestore(str(tmp_path / "backup")),
    ]
    model.fit(x, y, batch_size=16, epochs=3, validation_data=(x, y), callbacks=callbacks, verbose=0)
    restored = keras.models.load_model(tmp_path / "best.keras")
    assert isinstance(restored, keras_mimo.MIMOModel)


# -- saving and mixed precision ------------------------------------------


def test_keras_file_round_trip_restores_predictions_arguments_and_seed_state(cnn_mimo, image_data, tmp_path):
    x, y = image_data
    model = cnn_mimo(input_repetition_probability=0.25, batch_repetitions=3, seed=42)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    path = tmp_path / "mimo.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, keras_mimo.MIMOModel)
    assert (loaded.input_repetition_probability, loaded.batch_repetitions, loaded.seed) == (0.25, 3, 42)
    assert loaded.ensemble_size == 3
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(loaded.predict_members(x, verbose=0), model.predict_members(x, verbose=0), rtol=1e-6)
    # the next training batch continues from the saved shuffling state
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded.form_training_batch(x)),
        keras.ops.convert_to_numpy(model.form_training_batch(x)),
    )


def test_saved_file_is_the_same_whether_or_not_predict_members_ran(mlp_mimo, readable_data, tmp_path):
    import zipfile

    import h5py

    def stored_names(path):
        with zipfile.ZipFile(path) as archive:
            archive.extract("model.weights.h5", path.parent / path.stem)
        names = []
        with h5py.File(path.parent / path.stem / "model.weights.h5") as weights:
            weights.visit(names.append)
        return names

    x, _ = readable_data(8)
    model = mlp_mimo()
    model.save(tmp_path / "before.keras")
    members = model.predict_members(x, verbose=0)
    model.save(tmp_path / "after.keras")
    assert stored_names(tmp_path / "before.keras") == stored_names(tmp_path / "after.keras")
    loaded = keras.models.load_model(tmp_path / "after.keras")
    np.testing.assert_allclose(loaded.predict_members(x, verbose=0), members, rtol=1e-6)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_trains_and_outputs_float32(mlp_mimo, readable_data, policy):
    keras.config.set_dtype_policy(policy)
    x, y = readable_data(64)
    model = mlp_mimo(ensemble_size=3)
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    probs = model.predict(x, verbose=0)
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)


# -- reliability -----------------------------------------------------------


@pytest.mark.skipif(
    BACKEND == "jax", reason="concurrent predict breaks plain Keras models on JAX too (docs/guide.md FAQ)"
)
def test_predict_and_predict_members_are_safe_from_several_threads(mlp_mimo, readable_data):
    from concurrent.futures import ThreadPoolExecutor

    x, _ = readable_data(16)
    model = mlp_mimo(ensemble_size=2, classes=3)
    expected = {"predict": model.predict(x, verbose=0), "members": model.predict_members(x, verbose=0)}

    def run(i):
        kind = "members" if i % 2 else "predict"
        fn = model.predict_members if kind == "members" else model.predict
        return kind, fn(x, verbose=0)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(run, range(40)))  # 5 calls per thread, predict and members interleaved
    for kind, out in results:
        assert out.shape == expected[kind].shape, kind
        np.testing.assert_allclose(out, expected[kind], rtol=1e-5, atol=1e-6)
    # nothing is left on the model: single-threaded calls still agree
    assert model.predict(x, verbose=0).shape == (16, 3)
    assert model.predict_members(x, verbose=0).shape == (16, 2, 3)


def test_clone_model_keeps_the_mimo_arguments(mlp_mimo, readable_data):
    model = mlp_mimo(ensemble_size=3, input_repetition_probability=0.25, batch_repetitions=3, seed=5)
    clone = keras.models.clone_model(model)
    assert isinstance(clone, keras_mimo.MIMOModel)
    assert (clone.input_repetition_probability, clone.batch_repetitions, clone.seed) == (0.25, 3, 5)
    assert clone.ensemble_size == 3 and clone.ensemble_method == model.ensemble_method
    x, _ = readable_data(8)
    assert clone.predict(x, verbose=0).shape == (8, 4)


def _sequential_with_mimo_layers():
    return keras.Sequential(
        [
            keras.Input((4,)),
            keras_mimo.MIMOInput(2),
            keras.layers.Dense(8),
            keras_mimo.MIMOHead(3, 2, activation="softmax"),
        ]
    )


@pytest.mark.parametrize("rows", [4, 5])
@pytest.mark.parametrize("container", ["sequential", "functional"])
def test_mimo_layers_outside_a_mimo_model_raise_and_say_what_to_do(container, rows):
    seq = _sequential_with_mimo_layers()
    model = seq if container == "sequential" else keras.Model(seq.inputs, seq.outputs)
    x = np.zeros((rows, 4), "float32")
    message = r"outside a keras_mimo\.MIMOModel.*MIMOModel\(seq\.inputs, seq\.outputs\)"
    with pytest.raises(ValueError, match=message):
        model.predict(x, verbose=0)
    with pytest.raises(ValueError, match=message):
        model(x)
    model.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=message):
        model.fit(x, np.zeros(rows), verbose=0)
    # the documented way works (fresh layers: on JAX an exception inside a
    # compiled predict leaves the variables it purged empty, Keras's own limit)
    seq = _sequential_with_mimo_layers()
    mimo = keras_mimo.MIMOModel(seq.inputs, seq.outputs)
    assert mimo.predict(x, verbose=0).shape == (rows, 3)


def test_a_mimo_model_nested_in_a_plain_model_still_runs(mlp_mimo, readable_data):
    mimo = mlp_mimo(ensemble_size=2)
    inputs = keras.Input((4,))
    outer = keras.Model(inputs, mimo(keras.layers.Identity()(inputs)))
    x, _ = readable_data(6)
    np.testing.assert_allclose(outer.predict(x, verbose=0), mimo.predict(x, verbose=0), rtol=1e-6)


@pytest.mark.parametrize("seed", [3, np.int64(3), np.int32(3)])
def test_seed_accepts_python_and_numpy_integers(mlp_mimo, seed):
    model = mlp_mimo(seed=seed)
    assert model.seed == 3 and type(model.seed) is int
    reference = keras.ops.convert_to_numpy(mlp_mimo(seed=3).form_training_batch(np.eye(4, dtype="float32")))
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model.form_training_batch(np.eye(4, dtype="float32"))), reference
    )


@pytest.mark.parametrize("seed", [True, False, 1.0, "3", np.float32(3)])
def test_seed_rejects_anything_but_integers(mlp_mimo, seed):
    with pytest.raises(TypeError, match=r"`seed` must be an int"):
        mlp_mimo(seed=seed)


def test_missing_head_error_shows_the_head_signature():
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(3)(keras_mimo.MIMOInput(2)(inputs))
    with pytest.raises(ValueError, match=r"MIMOHead\(units, ensemble_size\)"):
        keras_mimo.MIMOModel(inputs, outputs)


def test_ensemble_method_is_public_and_read_only(mlp_mimo):
    model = mlp_mimo(activation=None)
    assert model.ensemble_method == "softmax_logits"
    with pytest.raises(AttributeError):
        model.ensemble_method = "mean"


# -- MixMo member loss weights: they belong to the forward pass that drew them


def _tiny_mixmo(seed=0):
    inputs = keras.Input((8, 8, 3))
    x = keras_mimo.MixMoInput(2, keras.layers.Conv2D(4, 3, padding="same"), mixing="linear", seed=seed)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras_mimo.MIMOModel(inputs, keras_mimo.MIMOHead(4, 2, activation="softmax")(x), seed=seed)
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def _fit_after_a_stochastic_pass(build, data, mixmo, stochastic_rows=None):
    """One epoch of a fresh seeded MIMO model, after `mixmo(rows, training=True)` outside fit if asked."""
    x, y = data
    keras.utils.set_random_seed(0)
    model = build(seed=0)
    model.compile("adam", "sparse_categorical_crossentropy")
    if stochastic_rows:
        mixmo(np.random.default_rng(0).random((stochastic_rows, 8, 8, 3)).astype("float32"), training=True)
    return model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0).history["loss"]


def test_a_stochastic_forward_pass_leaves_no_loss_weights_for_the_next_training_step(mlp_mimo, readable_data):
    """`mixmo(x, training=True)` outside fit (e.g. MC sampling) must leave nothing for another model's step.

    Before: its weights (3, 2) stayed in thread-local state, and the next train step of any MIMO model
    applied them to its 8 rows: an error inside a backend op.
    """
    mixmo = _tiny_mixmo()
    losses = _fit_after_a_stochastic_pass(mlp_mimo, readable_data(16), mixmo, stochastic_rows=3)
    assert np.isfinite(losses).all()


@pytest.mark.large
def test_a_stochastic_forward_pass_does_not_change_another_models_training_loss(mlp_mimo, readable_data):
    """With the training batch's size the stale weights applied silently: another loss (TF, JAX: every epoch)."""
    data, mixmo = readable_data(16), _tiny_mixmo()
    reference = _fit_after_a_stochastic_pass(mlp_mimo, data, mixmo)
    np.testing.assert_allclose(
        _fit_after_a_stochastic_pass(mlp_mimo, data, mixmo, stochastic_rows=8), reference, rtol=1e-6
    )


def test_mixmo_fit_weights_every_step_with_its_own_forward_passes(monkeypatch):
    """Every step's forward pass hands its own weights to compute_loss, with its outputs (JAX's step too)."""
    import keras_mimo.model as model_module

    seen = []
    weighted = model_module._mixing_weighted
    monkeypatch.setattr(
        model_module, "_mixing_weighted", lambda members, weights: (seen.append(weights), weighted(members, weights))[1]
    )
    model = _tiny_mixmo()
    images = np.random.default_rng(0).random((16, 8, 8, 3)).astype("float32")
    model.fit(images, np.arange(16) % 4, epochs=1, batch_size=8, verbose=0)
    assert seen and all(w is not None and tuple(w.shape) == (8, 2) for w in seen)


def test_no_forward_pass_record_outlives_its_call(monkeypatch):
    """The record of a forward pass (masks, MixMo weights) goes through the graph: nothing keeps it afterwards."""
    import gc
    import weakref

    from keras_mimo import _forward_pass

    # Each record made during the calls, held weakly (a scan of every live object
    # took seconds once the test session's heap had grown).
    made, count = weakref.WeakSet(), []
    record_init = _forward_pass.ForwardPass.__init__

    def counted_init(self):
        record_init(self)
        made.add(self)
        count.append(1)

    monkeypatch.setattr(_forward_pass.ForwardPass, "__init__", counted_init)
    model = _tiny_mixmo()
    images = np.random.default_rng(0).random((8, 8, 8, 3)).astype("float32")
    model.fit(images, np.arange(8) % 4, epochs=1, batch_size=8, verbose=0)
    model.predict(images, verbose=0)
    model.predict_members(images, verbose=0)
    gc.collect()
    assert count, "no forward pass was recorded: the test no longer sees the records"
    assert len(made) == 0
    assert not _forward_pass._models_on_stacked_rows()  # every mode scope closed
    layer_attributes = [a for layer in model._flatten_layers() for a in vars(layer) if "pass" in a.lower()]
    assert layer_attributes == []
