"""A model that shares a MIMOModel's layers and predicts per member.

`MIMOModel.predict_members` runs Keras's own `predict` (batching, progress
bar, callbacks, datasets, distribution) on this view, whose forward pass is
`MIMOModel.call_members`. The view has its own predict function, so nothing
on the MIMOModel is swapped or flagged: `predict` and `predict_members` can
run at the same time from several threads.
"""

import threading

import keras

from keras_mimo import _keras_compat

_lock = threading.Lock()
_ATTRIBUTE = "keras_mimo_members_views"


class MembersView(_keras_compat.ProcessLocalPredictions, keras.Model):
    """Outputs `(N, ensemble_size, ...)` of the tracked `mimo_model`."""

    def __init__(self, mimo_model, form, **kwargs):
        suffix = "any" if form is None else "".join("m" if f else "n" for f in form)
        super().__init__(name=f"{mimo_model.name}_members_{suffix}", **kwargs)
        self.mimo_model = mimo_model  # tracked: the view's variables are its own
        self.built = True

    def call(self, inputs, training=False):
        return self.mimo_model.call_members(inputs, training=training)


def members_view(mimo_model, form) -> MembersView:
    """The cached members view of `mimo_model` for one input `form`.

    `form` holds, per input, True for a member axis and False for none, or
    is None when unknown (datasets): each form gets its own view and predict
    function, so a trace of one form (rank) is never relaxed to serve another.
    """
    views = _keras_compat.get_untracked(mimo_model, _ATTRIBUTE)
    if views is None or form not in views:
        with _lock:
            views = dict(_keras_compat.get_untracked(mimo_model, _ATTRIBUTE) or {})
            if form not in views:
                views[form] = MembersView(mimo_model, form)
            # Out of Keras's sight: the MIMOModel must not own its views (no
            # cycle in its variables, nothing extra in its saved file).
            _keras_compat.set_untracked(mimo_model, _ATTRIBUTE, views)
    return views[form]
