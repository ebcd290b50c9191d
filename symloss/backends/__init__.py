"""Code-generation backends: each one a configuration object, as SymForce's ``CodegenConfig``.

A `Backend` names its printer, its template folder, the template of each family of losses it
renders, how a family's template context is planned, and the folder its files go to under
``generated/``. The shared renderer (`symloss.codegen.render`) loops over the registered
backends and asks each for what it declares; adding a backend adds a folder here with its
config and templates, and a `register` call, not a branch in shared code.
"""

from __future__ import annotations

from .config import BACKENDS, Backend, register

__all__ = ["Backend", "BACKENDS", "register", "backend", "builtin", "render", "render_definition"]


def backend(name: str) -> Backend:
    """The registered backend called name (importing the built-in ones on first use)."""
    from . import numba, pytorch  # noqa: F401  (each registers itself)

    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}: expected one of {sorted(BACKENDS)}") from None


def builtin() -> list[Backend]:
    """The built-in backends, in rendering order."""
    from . import numba, pytorch

    return [numba.NUMBA, pytorch.TORCH]


def render_definition(definition, b: Backend) -> str:
    """The text of one definition's module for backend b."""
    from ..codegen import environment

    template = b.template(definition.family)
    context = b.plan[definition.family](definition, template)
    return b.laid_out(environment(b.templates).get_template(template).render(**context))


def render(definitions, backends: list[Backend], source: str = "symloss.catalog") -> dict:
    """Relative path → text of generated/: the package's ``__init__.py`` and, per backend,
    one module per definition it renders and an index of their names (``source`` names what
    they came from in the index's header)."""
    from ..codegen import environment, header

    definitions = sorted(definitions, key=lambda d: d.name)
    package = "package.py.jinja"
    files = {
        "__init__.py": environment()
        .get_template(package)
        .render(header=header(package, "symloss.codegen"))
    }
    for b in backends:
        mine = [d for d in definitions if b.renders(d)]
        for d in mine:
            files[f"{b.output}/{d.name}.py"] = render_definition(d, b)
        if b.index is not None:
            files[f"{b.output}/__init__.py"] = b.laid_out(
                environment(b.templates)
                .get_template(b.index)
                .render(header=header(b.index, source), names=[d.name for d in mine])
            )
    return files
