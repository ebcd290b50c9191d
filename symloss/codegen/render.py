"""The Jinja2 environment over a template folder, and the header every generated file opens
with (generator, template, source, SymPy version, the fingerprint of inlined vmath)."""

from __future__ import annotations

import functools
import hashlib
from functools import lru_cache
from pathlib import Path

import jinja2
import sympy as sp

from .. import __version__
from ..locations import templates_dir
from .text import comment_text, docstring_text


@lru_cache(maxsize=8)
def environment(root: Path | None = None) -> jinja2.Environment:
    """The Jinja2 environment over a template folder (default: the project's templates/)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root or templates_dir())),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["docstring"] = docstring_text
    env.filters["comment"] = comment_text
    return env


# The kernel templates whose modules import symloss.vmath (the DP cells of ctc print libm's
# functions: their loops are serial; the soft edit distance's use vmath's double-doubles).
INLINES_VMATH = frozenset({"elementwise", "classes", "edit", "soft_edit"})


def header(template: str, source: str, vmath: bool = False) -> dict:
    return {
        "generator": f"symloss {__version__}",
        "template": template,
        "source": source,
        "sympy": sp.__version__,
        "vmath": vmath_fingerprint() if vmath else None,
    }


@functools.cache
def vmath_fingerprint() -> str:
    """A hash of symloss/vmath.py, printed in every kernel module: Numba's cache is keyed by
    the module's own file, so a change of the functions it inlines must change the file."""
    return hashlib.sha256((Path(__file__).parents[1] / "vmath.py").read_bytes()).hexdigest()[:16]
