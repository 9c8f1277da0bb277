"""Warnings for modules that moved: emitted once, at the first import, attributed to the importer."""

import warnings


def warn_moved_module(old: str, new: str, removed_in: str) -> None:
    """Warns (DeprecationWarning) that module `old` moved to `new` and goes in version `removed_in`.

    Called from the old module's body, so once per process (Python imports a
    module once). The warning points at the first frame outside the import
    machinery: the user's `import` line, where Python's filters show it.
    """
    # stacklevel 3: this function, the old module's body, its importer (Python's warnings skip the
    # import machinery's frames when they count)
    warnings.warn(
        f"`{old}` is deprecated and will be removed in keras-mimo {removed_in}: import `{new}` instead.",
        DeprecationWarning,
        stacklevel=3,
    )
