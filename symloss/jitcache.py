"""Numba's on-disk cache for generated kernels: whether it may be used, and checked entries.

``cache=True`` raises at import when Numba finds no writable cache location (a read-only
install with no writable home), so kernels ask here first. ``SYMLOSS_NUMBA_CACHE=0`` turns the
cache off; ``NUMBA_CACHE_DIR`` is honoured as Numba honours it.

Numba loads whatever its cache files hold: a truncated or garbled file raises on every call
(UnpicklingError, EOFError, LLVM errors) and two kernels' data files swapped load the wrong
function. `njit` gives kernels a cache whose data files carry the SHA-256 of their entry's
key and of their contents; an entry that fails either check, or does not load, is deleted
with a warning naming the folder, and the kernel is compiled again.
"""

from __future__ import annotations

import glob
import hashlib
import os
import pickle
import warnings
from functools import cache
from pathlib import Path

import numba
from numba.core.caching import FunctionCache, IndexDataCacheFile

from .threads import serialized

__all__ = ["cache_enabled", "njit", "vectorize", "writable_dir", "CorruptCacheWarning"]


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


class CorruptCacheWarning(UserWarning):
    """A cached kernel could not be used and was compiled again."""


_MAGIC = b"symloss-cache-1\n"


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


class _CheckedFile(IndexDataCacheFile):
    """Numba's index and data files; each data file starts with the digests of its key and
    its payload. Its own index version, so that entries written without them are stale."""

    def __init__(self, cache_path, filename_base, source_stamp):
        super().__init__(cache_path, filename_base, source_stamp)
        self._version = f"{numba.__version__}+{_MAGIC.decode().strip()}"
        self._key = b""

    def load(self, key):
        self._key = _digest(repr(key).encode())
        return super().load(key)

    def save(self, key, data):
        self._key = _digest(repr(key).encode())
        super().save(key, data)

    def _save_data(self, name, data):
        payload = self._dump(data)
        with self._open_for_write(self._data_path(name)) as f:
            f.write(_MAGIC + self._key + _digest(payload) + payload)

    def _load_data(self, name):
        with open(self._data_path(name), "rb") as f:
            raw = f.read()
        head = len(_MAGIC)
        if raw[:head] != _MAGIC:
            raise ValueError(f"{name} is not a symloss cache file")
        key, digest, payload = raw[head : head + 32], raw[head + 32 : head + 64], raw[head + 64 :]
        if key != self._key:
            raise ValueError(f"{name} holds another kernel's entry")
        if digest != _digest(payload):
            raise ValueError(f"{name} is truncated or altered")
        return pickle.loads(payload)

    def discard(self) -> None:
        """Delete the index and every data file of this function."""
        base = self._index_name[: -len(".nbi")]
        for path in [
            self._index_path,
            *glob.glob(os.path.join(glob.escape(self._cache_path), base + ".*.nbc")),
        ]:
            try:
                os.remove(path)
            except OSError:
                pass


class CheckedCache(FunctionCache):
    """Numba's function cache on `_CheckedFile`: an entry that does not load is discarded
    with a `CorruptCacheWarning`, and the kernel compiled again."""

    def __init__(self, py_func):
        super().__init__(py_func)
        self._cache_file = _CheckedFile(
            self._cache_path, self._impl.filename_base, self._impl.locator.get_source_stamp()
        )

    def load_overload(self, sig, target_context):
        try:
            return super().load_overload(sig, target_context)
        except Exception as exc:  # anything a damaged file makes pickle or LLVM raise
            self._cache_file.discard()
            warnings.warn(
                f"symloss: the cached kernel {self._py_func.__qualname__} in {self._cache_path} "
                f"could not be used ({type(exc).__name__}: {exc}); it was deleted and is "
                "compiled again",
                CorruptCacheWarning,
                stacklevel=2,
            )
            return None


def njit(module_file: str, **options):
    """``numba.njit(**options)`` with a `CheckedCache` where Numba can cache ``module_file``'s
    kernels (`cache_enabled`); a parallel kernel is `serialized` (one launch at a time)."""

    def decorate(func):
        dispatcher = numba.njit(**options)(func)
        if cache_enabled(module_file) and hasattr(dispatcher, "py_func"):  # not NUMBA_DISABLE_JIT
            dispatcher._cache = CheckedCache(dispatcher.py_func)
        return serialized(dispatcher) if options.get("parallel") else dispatcher

    return decorate


def vectorize(module_file: str, **options):
    """``numba.vectorize(**options)`` (a dynamic ufunc) with a `CheckedCache` where Numba can
    cache ``module_file``'s kernels."""

    def decorate(func):
        ufunc = numba.vectorize(**options)(func)
        if cache_enabled(module_file) and hasattr(ufunc, "_dispatcher"):
            ufunc._dispatcher.cache = CheckedCache(ufunc._dispatcher.py_func)
        return ufunc

    return decorate
