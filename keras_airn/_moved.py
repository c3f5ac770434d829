"""Modules that moved into the package folders: their old names still import, with a
`DeprecationWarning`, for one release.

Example:
>>> import warnings
>>> with warnings.catch_warnings(record=True):
...     from keras_airn.features import FrontEnd
>>> FrontEnd.__module__
'keras_airn.data.features'
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

MOVED = {
    **{f"keras_airn.{name}": f"keras_airn.network.{name}"
       for name in ("model", "layers", "factory", "deploy", "profile", "checkpoint", "loading", "baselines")},
    **{f"keras_airn.{name}": f"keras_airn.data.{name}"
       for name in ("audio", "features", "datasets", "labels", "preprocessor")},
    **{f"keras_airn.{name}": f"keras_airn.inference.{name}"
       for name in ("runtime", "streaming", "artifacts", "tflite_invoke", "personalise")},
}


class _Redirect(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old name (or a module below it) as the module under its new name."""

    @staticmethod
    def _new_name(fullname: str) -> str | None:
        for old, new in MOVED.items():
            if fullname == old or fullname.startswith(old + "."):
                return new + fullname[len(old):]
        return None

    def find_spec(self, fullname, path=None, target=None):
        new = self._new_name(fullname)
        return None if new is None else importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        new = self._new_name(spec.name)
        warnings.warn(f"{spec.name} is now {new}; the old name goes in the next release.",
                      DeprecationWarning, stacklevel=2)
        return importlib.import_module(new)

    def exec_module(self, module):
        pass  # the module ran under its new name


def install() -> None:
    """Lets the old names import (once per process)."""
    if not any(isinstance(finder, _Redirect) for finder in sys.meta_path):
        sys.meta_path.append(_Redirect())


class _Package(types.ModuleType):
    """`keras_airn` itself: importing an old module name that is also one of its public names
    (`keras_airn.profile`, now the function) leaves the public name in place, where Python's import
    would bind the module over it."""

    def __setattr__(self, name, value):
        if isinstance(value, types.ModuleType) and name in getattr(self, "__all__", ()) and name in self.__dict__:
            return
        super().__setattr__(name, value)


def keep_public_names(package: types.ModuleType) -> None:
    """Makes `package`'s public names (its `__all__`) outlast imports of old module names."""
    package.__class__ = _Package
