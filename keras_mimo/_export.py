"""SavedModel export of a MIMOModel with ensemble and per-member endpoints."""

import keras


def write_saved_model(model, filepath, verbose=None, input_signature=None):
    """Writes a SavedModel with `serve` (ensemble) and `serve_members` endpoints.

    Args:
        model: a built `MIMOModel`.
        filepath: the SavedModel directory.
        verbose: whether to print the endpoints (default True).
        input_signature: a list with one `keras.InputSpec` structure; default:
            the structure of the model's inputs (a spec, or a list or dict of
            specs for several inputs), with their shapes and dtypes.
    """
    spec = input_signature or [
        keras.tree.map_structure(lambda t: keras.InputSpec(shape=tuple(t.shape), dtype=t.dtype), model.input)
    ]
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", lambda x: model(x, training=False), input_signature=spec)
    archive.add_endpoint("serve_members", lambda x: model.call_members(x), input_signature=spec)
    archive.write_out(filepath, verbose=bool(verbose) if verbose is not None else True)
