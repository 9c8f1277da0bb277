"""Module-level `__getattr__` for modules whose names moved: the old name reads, with a warning."""

import importlib
import warnings

REMOVED_IN = "0.3.0"


def redirect(module: str, moved: dict):
    """A `__getattr__` for `module` that returns `moved[name]` ("package.module.attribute") with a DeprecationWarning."""

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
