"""The Jinja2 environment over a template folder, and the header every generated file opens
with (generator, template, source, SymPy version, the fingerprint of inlined vmath)."""

from __future__ import annotations

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


def header(template: str, source: str, libraries: str | None = None) -> dict:
    """What a generated file says at its top: generator, template, source, SymPy's version and,
    for a backend whose modules inline a library of its own, that library's fingerprint."""
    return {
        "generator": f"symloss {__version__}",
        "template": template,
        "source": source,
        "sympy": sp.__version__,
        "libraries": libraries,
    }


def fingerprint(*modules: str) -> str:
    """A hash of symloss's modules ``modules`` (file names, e.g. ``"vmath.py"``)."""
    h = hashlib.sha256()
    for name in modules:
        h.update((Path(__file__).parents[1] / name).read_bytes())
    return h.hexdigest()[:16]
