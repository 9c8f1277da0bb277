"""Deprecation warnings for names and modules that moved (one place; removals are listed in CHANGELOG.md).

- `warn_moved_module`: a whole module moved; the old module re-exports and warns once, at its import.
- `redirect`: single names moved; the old module's `__getattr__` warns at each read and returns the new object.
"""

import importlib
import warnings

REMOVED_IN = "0.3.0"


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


def redirect(module: str, moved: dict):
    """A module `__getattr__` for `module`: `moved[name]` ("package.module.attribute"), with a DeprecationWarning."""

    def __getattr__(name: str):
        if name not in moved:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        target = moved[name]
        warnings.warn(
            f"{module}.{name} is deprecated and will be removed in {REMOVED_IN}: use {target}.",
            DeprecationWarning,
            stacklevel=2,
        )
        home, attribute = target.rsplit(".", 1)
        return getattr(importlib.import_module(home), attribute)

    return __getattr__
