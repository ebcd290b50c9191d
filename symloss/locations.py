"""Where the committed kernels and the templates live.

Both layouts put ``templates/`` beside the folder of the generated package: in a source checkout
(and an editable install) ``generated/`` and ``templates/`` are top-level folders; in an installed
wheel they are ``symloss/generated/`` and ``symloss/templates/``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

__all__ = ["generated_dir", "templates_dir"]


def generated_dir() -> Path:
    """The folder of the ``symloss.generated`` package (found without importing it)."""
    spec = importlib.util.find_spec("symloss.generated")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("symloss.generated is missing: reinstall symloss")
    return Path(next(iter(spec.submodule_search_locations)))


def templates_dir() -> Path:
    path = generated_dir().parent / "templates"
    if not path.is_dir():
        raise RuntimeError(f"symloss templates not found at {path}: reinstall symloss")
    return path
