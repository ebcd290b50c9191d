"""The runtime users call: argument checking, dtype and reduction dispatch, lazy kernel loading.

It imports NumPy and, on a loss's first use, that loss's generated module (Numba kernels,
compiled or loaded from Numba's cache on first call). It never imports SymPy.

Conventions (the contract of ``symloss.loss(name)``):

* float32 stays float32, float64 stays float64, other real input (ints, bools, float16)
  becomes float64; target, weight and array parameters are cast to that dtype and broadcast to
  the shape of the first input;
* ``reduction="mean"`` is Σ w·ℓ / Σ w (Σ ℓ / n without weights), ``"sum"`` is Σ w·ℓ, ``"none"``
  the array w·ℓ; sums accumulate in float64 and are returned as a scalar of the input dtype;
* empty input: ``"sum"`` is 0, ``"mean"`` is NaN (0/0, as NumPy and PyTorch), ``"none"`` and
  the gradients are empty arrays; a norm of nothing is 0;
* NaN anywhere in an element's inputs gives NaN for that element (value, gradient, Hessian).

Modules, each importing only those listed before it:

* ``registry``: the built-in losses by name, `names()`, and the generated module of one;
* ``broadcast``: inputs as the kernels take them (broadcast, flat, or a block at a time);
* ``call``: a validated call (`_Call`) and the output arrays it writes (``out=``);
* ``parameters``: a parameter in its range, a static switch, an estimate; sign labels;
* ``norms``: the norm family, L = g(Σ w·ℓ) along ``axis``, rescaled when the sum overflows;
* ``rows``: the class-axis front end, logits as rows of C scores, and a loss's other forms;
* ``linear``: the linear front end, (x, W, target) to the logits x·W and back;
* ``kernel``: `LossKernel`, checking a call and running elementwise kernels, and `loss(name)`.
"""

from __future__ import annotations

from ..arguments import REDUCTIONS
from ..variants import static_parts, variant_key
from .broadcast import BLOCK as BLOCK  # the block size, outside __all__ as before
from .kernel import LossKernel, loss
from .registry import names

__all__ = ["names", "loss", "LossKernel", "variant_key", "static_parts", "REDUCTIONS"]
