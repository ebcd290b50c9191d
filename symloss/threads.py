"""Numba's threading layer, chosen so that a process may fork after using symloss.

Numba prefers GNU OpenMP where it finds it, and a fork child of a process that has run a
parallel kernel under GNU OpenMP terminates when it launches one ("fork() called from a
process already using GNU OpenMP"): multiprocessing fork pools, PyTorch DataLoader workers.
Unless the user chose a layer (``NUMBA_THREADING_LAYER`` or ``numba.config.THREADING_LAYER``),
symloss asks for Numba's ``forksafe`` layers: TBB if installed, an OpenMP other than GNU's,
else Numba's workqueue. The workqueue must not run parallel kernels from several threads at
once, so symloss's parallel kernels launch one at a time (`serialized`).
"""

from __future__ import annotations

import os
import sys
import threading

__all__ = ["choose_threading_layer", "serialized"]


def choose_threading_layer() -> None:
    """Ask Numba for a fork-safe threading layer unless the user chose one. Numba is not
    imported for it: before Numba's import the choice goes in ``NUMBA_THREADING_LAYER``
    (which child processes inherit), after it in ``numba.config``. No effect once a
    parallel kernel has run: Numba fixes its layer at the first launch."""
    if os.environ.get("NUMBA_THREADING_LAYER"):
        return
    numba = sys.modules.get("numba")
    if numba is None:
        os.environ["NUMBA_THREADING_LAYER"] = "forksafe"
    elif numba.config.THREADING_LAYER == "default":
        numba.config.THREADING_LAYER = "forksafe"


_LAUNCH = threading.Lock()


class serialized:
    """A parallel kernel whose launches hold one process-wide lock. A parallel Numba kernel
    releases the GIL while it runs, and the workqueue layer aborts the process when a second
    thread launches a parallel kernel meanwhile ("Concurrent access has been detected"): a
    Dask threaded scheduler did. Each launch uses every core anyway."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.__name__ = getattr(kernel, "__name__", "kernel")
        self.__doc__ = getattr(kernel, "__doc__", None)

    def __call__(self, *args):
        with _LAUNCH:
            return self.kernel(*args)

    def __getattr__(self, name):  # py_func, signatures, … of the Numba dispatcher
        return getattr(self.kernel, name)
