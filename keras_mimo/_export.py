"""SavedModel export of a MIMOModel with ensemble and per-member endpoints."""

import keras


def write_saved_model(model, filepath, verbose=None, input_signature=None):
    """Writes a SavedModel with `serve` (ensemble) and `serve_members` endpoints.

    Args:
        model: a built `MIMOModel`.
        filepath: the SavedModel directory.
        verbose: whether to print the endpoints (default True).
        input_signature: a list of `keras.InputSpec`; default: the model's
            input shape and dtype.
    """
    spec = input_signature or [
        keras.InputSpec(shape=tuple(model.inputs[0].shape), dtype=model.inputs[0].dtype)
    ]
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", lambda x: model(x, training=False), input_signature=spec)
    archive.add_endpoint("serve_members", lambda x: model.call_members(x), input_signature=spec)
    archive.write_out(filepath, verbose=bool(verbose) if verbose is not None else True)
