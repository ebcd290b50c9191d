"""Whether generated kernels may use Numba's on-disk cache.

``cache=True`` raises at import when Numba finds no writable cache location (a read-only
install with no writable home), so kernels ask here first. ``SYMLOSS_NUMBA_CACHE=0`` turns the
cache off; ``NUMBA_CACHE_DIR`` is honoured as Numba honours it.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

__all__ = ["cache_enabled", "writable_dir"]


def writable_dir(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK | os.X_OK)


@cache
def _enabled_for(directory: str) -> bool:
    if os.environ.get("SYMLOSS_NUMBA_CACHE", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    custom = os.environ.get("NUMBA_CACHE_DIR")
    if custom:
        return writable_dir(Path(custom))
    if writable_dir(Path(directory) / "__pycache__"):
        return True
    # Numba's fallback: a per-user cache directory.
    home_cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return writable_dir(Path(home_cache) / "numba")


def cache_enabled(module_file: str) -> bool:
    """True when Numba can cache kernels defined in ``module_file``."""
    return _enabled_for(str(Path(module_file).resolve().parent))
