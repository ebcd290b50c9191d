"""The built-in losses by name: `names()`, and the generated module of one, imported on first use.

The kernel objects built from these modules, cached, are `symloss.runtime.kernel.loss`'s.
"""

from __future__ import annotations

import difflib
import importlib
from types import ModuleType

_LOSS_MODULES = "symloss.generated.kernels"


def names() -> list[str]:
    """Sorted names of the built-in losses."""
    from symloss.generated import kernels

    return sorted(getattr(kernels, "NAMES", ()))  # empty only before the first generate


def _module(name: str) -> ModuleType:
    """The generated module of the built-in loss ``name``, or a ValueError that names the
    built-ins closest to it."""
    known = names()
    if not isinstance(name, str) or name not in known:
        close = difflib.get_close_matches(str(name), known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown loss {name!r}: expected one of {', '.join(known)}{hint}")
    return importlib.import_module(f"{_LOSS_MODULES}.{name}")
