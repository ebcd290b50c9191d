"""Numba's threading layer, chosen so that a process may fork after using symloss.

Numba prefers GNU OpenMP where it finds it, and a fork child of a process that has run a
parallel kernel under GNU OpenMP terminates when it launches one ("fork() called from a
process already using GNU OpenMP"): multiprocessing fork pools, PyTorch DataLoader workers.
Unless the user chose a layer (``NUMBA_THREADING_LAYER`` or ``numba.config.THREADING_LAYER``),
symloss asks for Numba's ``forksafe`` layers: TBB if installed, an OpenMP other than GNU's,
else Numba's workqueue. The workqueue must not run parallel kernels from several threads at
once; symloss's kernels hold the GIL, so they never do.
"""

from __future__ import annotations

import os

import numba

__all__ = ["choose_threading_layer"]


def choose_threading_layer() -> str:
    """Ask Numba for a fork-safe threading layer unless the user chose one; return the choice.

    Has no effect once a parallel kernel has run: Numba fixes its layer at the first launch."""
    if not os.environ.get("NUMBA_THREADING_LAYER") and numba.config.THREADING_LAYER == "default":
        numba.config.THREADING_LAYER = "forksafe"
    return numba.config.THREADING_LAYER
