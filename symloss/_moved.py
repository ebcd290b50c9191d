"""Old import paths of modules that moved into the pipeline's packages, kept for one release.

``import symloss.spec`` still works and is the module ``symloss.definition.spec``, with a
DeprecationWarning naming the new path.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MOVED = {
    "symloss.spec": "symloss.definition.spec",
    "symloss.parse": "symloss.definition.parse",
    "symloss.primitives": "symloss.definition.primitives",
    "symloss.recurrence": "symloss.definition.recurrence",
    "symloss.gradcheck": "symloss.verify.gradcheck",
    "symloss.verify_sequences": "symloss.verify.sequences",
}


class _Loader(importlib.abc.Loader):
    def __init__(self, new: str):
        self.new = new

    def create_module(self, spec):
        return importlib.import_module(self.new)

    def exec_module(self, module):
        pass


class MovedFinder(importlib.abc.MetaPathFinder):
    """Resolves an old module path to the module at its new one."""

    def find_spec(self, fullname, path=None, target=None):
        new = MOVED.get(fullname)
        if new is None:
            return None
        warnings.warn(f"{fullname} moved to {new}", DeprecationWarning, stacklevel=2)
        return importlib.util.spec_from_loader(fullname, _Loader(new))


def install() -> None:
    if not any(isinstance(f, MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(MovedFinder())
