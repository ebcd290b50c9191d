"""The configuration object of a backend, and the registry of backends."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Backend", "BACKENDS", "register"]


@dataclass(frozen=True)
class Backend:
    """What a target language or framework needs from the pipeline.

    ``templates``: the folder Jinja2 loads from. ``families``: loss family (``elementwise``,
    ``norm``, ``classes``, ``ctc``, …) → template path in that folder. ``plan``: family →
    function(definition, template path) returning the template's context (the planned,
    printed kernels). ``printer``: function(dtype, names) →
    a SymPy code printer. ``index``: template of the output folder's ``__init__.py`` (listing
    the loss names), or None. ``output``: the folder under ``generated/`` (or a user's --out).
    ``layout``: function(text) → text applied to each rendered file (line breaking), or None."""

    name: str
    templates: Path
    output: str
    families: Mapping[str, str]
    plan: Mapping[str, Callable]
    printer: Callable
    index: str | None = None
    layout: Callable[[str], str] | None = None
    options: Mapping[str, object] = field(default_factory=dict)

    def laid_out(self, text: str) -> str:
        return text if self.layout is None else self.layout(text)

    def template(self, family: str) -> str:
        return self.families[family]

    def renders(self, definition) -> bool:
        return definition.family in self.families


BACKENDS: dict[str, Backend] = {}


def register(b: Backend) -> Backend:
    """Add a backend to the ones `symloss generate` renders (by name; a name is taken once)."""
    if b.name in BACKENDS and BACKENDS[b.name] is not b:
        raise ValueError(f"a backend named {b.name!r} is registered already")
    BACKENDS[b.name] = b
    return b
